package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/power"
	"github.com/urfave/cli/v2"
)

// powerCommand: byoi power NAME status|on|off|cycle|reset, and
// byoi power NAME set … for the BMC settings.
func powerCommand() *cli.Command {
	return &cli.Command{
		Name:      "power",
		Usage:     "show or change a machine's power through its BMC, or set its BMC settings",
		ArgsUsage: "NAME status|on|off|cycle|reset|set",
		Description: "status asks the BMC (and shows byoi's last power action); on, off, cycle and reset act now.\n" +
			"set stores the BMC settings: --driver ipmi|redfish|qmp|none, --address, --username and the password\n" +
			"from --password-file (or BYOI_BMC_PASSWORD); the password is stored sealed and never shown.",
		Flags: withClientFlags(
			&cli.StringFlag{Name: "driver", Usage: "set: ipmi, redfish, qmp or none"},
			&cli.StringFlag{Name: "address", Usage: "set: the BMC (ipmi: host[:port]; redfish: https://host; qmp: unix:/path or tcp:host:port)"},
			&cli.StringFlag{Name: "username", Usage: "set: BMC user"},
			&cli.StringFlag{Name: "password-file", Usage: "set: file holding the BMC password (- for stdin)"},
			&cli.StringFlag{Name: "system", Usage: "set: Redfish system id, when the BMC has several"},
			&cli.StringFlag{Name: "nic", Usage: "set: QMP network card to boot from"},
			&cli.BoolFlag{Name: "insecure-tls", Usage: "set: accept the Redfish BMC's certificate without checking it"},
		),
		Action: clientAction(func(c *cli.Context, args []string) error {
			if len(args) != 2 {
				return fmt.Errorf("power: expected NAME and one of status, on, off, cycle, reset, set; got %d arguments", len(args))
			}
			name, verb := args[0], args[1]
			if verb != "status" && verb != "set" {
				if _, err := power.ParseAction(verb); err != nil {
					return fmt.Errorf("power: %w (or status, set)", err)
				}
			}
			var settings *power.Config
			if verb == "set" {
				pc, err := powerSettings(c)
				if err != nil {
					return err
				}
				settings = &pc
			}
			api, err := newAPIClient(c)
			if err != nil {
				return err
			}
			switch verb {
			case "status":
				return exchange(c, api, "GET", apiPath("machines", name, "power"), nil, printPower(name))
			case "set":
				return exchange(c, api, "PUT", apiPath("machines", name, "power"), settings, func(w io.Writer, m boot.Machine) error {
					if m.Power == nil {
						_, err := fmt.Fprintf(w, "%s: no power driver; byoi will ask you to power-cycle it by hand\n", name)
						return err
					}
					// The machine comes back redacted (no sealed password):
					// the power view says whether one is stored, and whether
					// the BMC answers with these settings.
					var p powerStatus
					if _, err := api.do(c.Context, "GET", apiPath("machines", name, "power"), nil, &p); err != nil {
						return err
					}
					fmt.Fprintf(w, "%s: %s at %s (password %s)\n", name, p.Driver, p.Address, map[bool]string{true: "stored sealed", false: "none"}[p.HasPassword])
					if p.Live {
						_, err := fmt.Fprintf(w, "The BMC answers: power %s.\n", p.State)
						return err
					}
					_, err := fmt.Fprintf(w, "The BMC did not answer (settings kept): %s\n", p.StateErr)
					return err
				})
			}
			return exchange(c, api, "POST", apiPath("machines", name, "power", verb), nil, printPower(name))
		}),
	}
}

// powerSettings reads `power set`'s flags; the password comes from a file
// or the environment, never from the command line.
func powerSettings(c *cli.Context) (power.Config, error) {
	pc := power.Config{Driver: c.String("driver"), Address: c.String("address"), Username: c.String("username"),
		System: c.String("system"), NIC: c.String("nic"), InsecureTLS: c.Bool("insecure-tls")}
	if pc.Driver == "" {
		return pc, fmt.Errorf("power set: --driver is required (ipmi, redfish, qmp or none)")
	}
	switch f := c.String("password-file"); {
	case f == "-":
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 4096))
		if err != nil {
			return pc, fmt.Errorf("power set: read the password from stdin: %w", err)
		}
		pc.Password = strings.TrimRight(string(b), "\r\n")
	case f != "":
		b, err := os.ReadFile(f)
		if err != nil {
			return pc, fmt.Errorf("power set: %w", err)
		}
		pc.Password = strings.TrimRight(string(b), "\r\n")
	default:
		pc.Password = os.Getenv("BYOI_BMC_PASSWORD")
	}
	if pc.Driver == power.DriverNone {
		pc.Driver = ""
	}
	if err := pc.Validate(); err != nil {
		return pc, fmt.Errorf("power set: %w", err)
	}
	return pc, nil
}

// powerStatus mirrors the server's power view.
type powerStatus struct {
	Driver      string          `json:"driver"`
	Address     string          `json:"address"`
	HasPassword bool            `json:"hasPassword"`
	State       string          `json:"state"`
	Live        bool            `json:"live"`
	StateErr    string          `json:"stateError"`
	LastPower   *boot.PowerNote `json:"lastPower"`
}

func printPower(name string) func(io.Writer, powerStatus) error {
	return func(w io.Writer, p powerStatus) error {
		state := p.State
		switch {
		case p.Driver == power.DriverNone:
			state = "unknown (no power driver)"
		case p.Live:
		case state != "":
			state += " (last seen; the BMC did not answer: " + p.StateErr + ")"
		default:
			state = "unknown: " + p.StateErr
		}
		fmt.Fprintf(w, "%s: power %s\n", name, state)
		if p.Driver != power.DriverNone {
			fmt.Fprintf(w, "BMC: %s at %s\n", p.Driver, p.Address)
		}
		if n := p.LastPower; n != nil {
			fmt.Fprintf(w, "last action: %s\n", powerNoteText(n))
		}
		return nil
	}
}

// powerNoteText is a power action and how it went, on one line.
func powerNoteText(n *boot.PowerNote) string {
	s := n.Action
	if n.Reason != "" {
		s += " (" + n.Reason + ")"
	}
	switch {
	case n.Pending():
		return s + fmt.Sprintf(", being tried since %s (%d attempts)", n.Start.Format(time.RFC3339), n.Attempts)
	case n.Error != "":
		return s + fmt.Sprintf(", failed at %s: %s", n.End.Format(time.RFC3339), n.Error)
	}
	return s + ", done at " + n.End.Format(time.RFC3339)
}
