package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/urfave/cli/v2"
)

// rescueCommand: byoi rescue NAME [--ssh-key FILE] — boot the rescue system.
func rescueCommand() *cli.Command {
	return &cli.Command{
		Name:      "rescue",
		Usage:     "reboot a machine into the rescue system (SSH as root, in RAM)",
		ArgsUsage: "NAME",
		Description: "The machine network-boots the rescue system through its BMC (or byoi says to power-cycle it by hand).\n" +
			"It accepts the key of --ssh-key, else the machine's rescue key, else the sshKey of its latest install.\n" +
			"`byoi machines show NAME` shows where to SSH once it is up; `byoi boot NAME disk` leaves rescue.",
		Flags: withClientFlags(
			&cli.StringFlag{Name: "ssh-key", Usage: "public key file the rescue system accepts (kept as the machine's rescue key)"},
			&cli.BoolFlag{Name: "no-reboot", Usage: "only choose the next boot; do not power-cycle the machine"},
		),
		Action: machineAction(func(c *cli.Context, api *apiClient, name string) error {
			return setBoot(c, api, name, "rescue")
		}),
	}
}

// bootCommand: byoi boot NAME disk|rescue.
func bootCommand() *cli.Command {
	return &cli.Command{
		Name:      "boot",
		Usage:     "choose what a machine boots next (disk or rescue) and reboot it",
		ArgsUsage: "NAME disk|rescue",
		Flags: withClientFlags(
			&cli.StringFlag{Name: "ssh-key", Usage: "rescue: public key file the rescue system accepts"},
			&cli.BoolFlag{Name: "no-reboot", Usage: "only choose the next boot; do not power-cycle the machine"},
		),
		Action: clientAction(func(c *cli.Context, args []string) error {
			if len(args) != 2 || (args[1] != "disk" && args[1] != "rescue") {
				return fmt.Errorf("boot: expected NAME and disk or rescue, got %q", args)
			}
			api, err := newAPIClient(c)
			if err != nil {
				return err
			}
			return setBoot(c, api, args[0], args[1])
		}),
	}
}

func setBoot(c *cli.Context, api *apiClient, name, mode string) error {
	in := struct {
		Mode   string `json:"mode"`
		SSHKey string `json:"sshKey,omitempty"`
		Reboot bool   `json:"reboot"`
	}{Mode: mode, Reboot: !c.Bool("no-reboot")}
	if f := c.String("ssh-key"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("%s: %w", commandName(c), err)
		}
		in.SSHKey = strings.TrimSpace(string(b))
	}
	return exchange(c, api, "PUT", apiPath("machines", name, "boot"), in, func(w io.Writer, m boot.Machine) error {
		next := "its disk"
		if mode == "rescue" {
			next = "the rescue system"
		}
		fmt.Fprintf(w, "%s boots %s next.\n", name, next)
		switch {
		case !in.Reboot:
			fmt.Fprintln(w, "Not rebooted: power-cycle it when you want (byoi power NAME cycle).")
		case m.Power == nil:
			fmt.Fprintln(w, "It has no power driver: power-cycle it by hand (network boot first).")
		default:
			fmt.Fprintf(w, "Network boot and power-cycle sent to its BMC (%s at %s); `byoi power %s status` shows how it went.\n", m.Power.Driver, m.Power.Address, name)
		}
		return nil
	})
}
