package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/bytesize"
	"github.com/byoi/byoi/store"
	"github.com/urfave/cli/v2"
)

// machineBody is what an operator sets on a machine (POST and PUT
// /api/v1/machines…).
type machineBody struct {
	Name              string                 `json:"serviceName"`
	MACs              []string               `json:"macs"`
	IPv4              string                 `json:"ipv4,omitempty"`
	Disk              boot.DiskHints         `json:"disk"`
	DiskGroups        map[int]boot.DiskHints `json:"diskGroups,omitempty"`
	BootMode          boot.BootMode          `json:"bootMode"`
	EFIBootloaderPath string                 `json:"efiBootloaderPath,omitempty"`
}

func bodyOf(m boot.Machine) machineBody {
	return machineBody{Name: m.Name, MACs: m.MACs, IPv4: m.IPv4, Disk: m.Disk, DiskGroups: m.DiskGroups, BootMode: m.BootMode, EFIBootloaderPath: m.EFIBootloaderPath}
}

// machineSetFlags are the fields add and adopt can set.
func machineSetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "efi-bootloader-path", Usage: `EFI loader booted from disk after an install, e.g. \efi\debian\grubx64.efi`},
		&cli.StringFlag{Name: "ipv4", Usage: "fixed address handed out by byoi's DHCP (full mode)"},
		&cli.StringFlag{Name: "disk-path", Usage: "target disk: device path, e.g. /dev/sda or /dev/disk/by-path/…"},
		&cli.StringFlag{Name: "disk-serial", Usage: "target disk: serial number"},
		&cli.StringFlag{Name: "disk-wwn", Usage: "target disk: WWN"},
		&cli.StringFlag{Name: "disk-min-size", Usage: "target disk: at least this size (e.g. 100G)"},
		&cli.StringFlag{Name: "disk-max-size", Usage: "target disk: at most this size (e.g. 2T)"},
	}
}

// applyMachineFlags sets the flags that were given on b.
func applyMachineFlags(c *cli.Context, b *machineBody) error {
	for flag, dst := range map[string]*string{
		"efi-bootloader-path": &b.EFIBootloaderPath, "ipv4": &b.IPv4,
		"disk-path": &b.Disk.Path, "disk-serial": &b.Disk.Serial, "disk-wwn": &b.Disk.WWN,
	} {
		if c.IsSet(flag) {
			*dst = c.String(flag)
		}
	}
	for flag, dst := range map[string]*int64{"disk-min-size": &b.Disk.MinSize, "disk-max-size": &b.Disk.MaxSize} {
		if c.IsSet(flag) {
			n, err := parseSize(c.String(flag))
			if err != nil {
				return fmt.Errorf("--%s: %w", flag, err)
			}
			*dst = n
		}
	}
	return nil
}

// parseSize reads a byte count with an optional binary suffix: 512, 64K,
// 100G, 2T (also KiB, GiB…).
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGTP", t[n-1]); i >= 0 {
			mult = int64(1) << (10 * (i + 1))
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: use a byte count with an optional K, M, G, T or P suffix", s)
	}
	return n * mult, nil
}

func machinesCommand() *cli.Command {
	return &cli.Command{
		Name:  "machines",
		Usage: "list, add, show, change, remove and adopt machines",
		Subcommands: []*cli.Command{
			{Name: "list", Aliases: []string{"ls"}, Usage: "list machines with their state, power and progress (discovered ones too); --watch follows them", Flags: withClientFlags(machinesListFlags()...), Action: apiAction(machinesList)},
			{Name: "add", Usage: "register a machine by its boot MAC(s)", ArgsUsage: "NAME", Action: clientAction(machinesAdd),
				Flags: withClientFlags(append([]cli.Flag{&cli.StringSliceFlag{Name: "mac", Usage: "boot interface MAC (repeatable, required)"}}, machineSetFlags()...)...)},
			{Name: "show", Usage: "show a machine, its active task and recent events", ArgsUsage: "NAME", Flags: withClientFlags(), Action: machineAction(machinesShow)},
			{Name: "rm", Aliases: []string{"remove"}, Usage: "forget a machine (refused while it installs)", ArgsUsage: "NAME", Flags: withClientFlags(), Action: machineAction(machinesRemove)},
			machinesSetCommand(),
			{Name: "adopt", Usage: "name a machine that was discovered when it network-booted", ArgsUsage: "DISCOVERED-NAME|MAC NEW-NAME", Action: clientAction(machinesAdopt),
				Flags: withClientFlags(machineSetFlags()...)},
		},
	}
}

func bootModeText(b boot.BootMode) string {
	if b == boot.BootModeNone {
		return "next-device"
	}
	return string(b)
}

func machinesAdd(c *cli.Context, args []string) error {
	name, err := oneArg(c, args, "the machine name")
	if err != nil {
		return err
	}
	if err := requireFlags(c, "mac"); err != nil {
		return err
	}
	b := machineBody{Name: name, MACs: c.StringSlice("mac")}
	if err := applyMachineFlags(c, &b); err != nil {
		return err
	}
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	return exchange(c, api, "POST", apiPath("machines"), b, func(w io.Writer, m boot.Machine) error {
		_, err := fmt.Fprintf(w, "Machine %s added (%s).\n", m.Name, strings.Join(m.MACs, ", "))
		return err
	})
}

func machinesShow(c *cli.Context, api *apiClient, name string) error {
	return exchange(c, api, "GET", apiPath("machines", name), nil, printMachine)
}

func printMachine(w io.Writer, v machineView) error {
	m := v.Machine
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", m.Name)
	switch {
	case m.Discovered:
		fmt.Fprintf(tw, "State:\tdiscovered (adopt it with `byoi machines adopt %s NEW-NAME`)\n", m.Name)
	case v.State != "":
		fmt.Fprintf(tw, "State:\t%s\n", v.State)
	}
	if v.State != "" { // a server that says
		fmt.Fprintf(tw, "Power:\t%s\n", powerText(v.PowerSummary))
	}
	fmt.Fprintf(tw, "MACs:\t%s\n", strings.Join(m.MACs, ", "))
	fmt.Fprintf(tw, "IPv4:\t%s\n", dash(m.IPv4))
	fmt.Fprintf(tw, "Boot:\t%s\n", bootModeText(m.BootMode))
	fmt.Fprintf(tw, "EFI bootloader:\t%s\n", dash(m.EFIBootloaderPath))
	fmt.Fprintf(tw, "Disk:\t%s\n", diskText(m.Disk))
	fmt.Fprintf(tw, "Last seen:\t%s %s\n", formatTime(m.LastSeen), m.LastClient)
	tw.Flush()
	printMachinePower(w, m)
	printMachineRescue(w, m)
	if v.ActiveTask != nil {
		fmt.Fprintln(w)
		printTask(w, *v.ActiveTask)
	}
	if len(v.Events) > 0 {
		fmt.Fprintln(w, "\nEvents:")
		for _, e := range v.Events {
			task := ""
			if e.TaskID != 0 {
				task = fmt.Sprintf(" task %d", e.TaskID)
			}
			fmt.Fprintf(w, "  %s  %s%s: %s\n", formatTime(e.Time), e.Kind, task, e.Message)
		}
	}
	return nil
}

func diskText(d boot.DiskHints) string {
	var parts []string
	for _, p := range []struct{ k, v string }{{"path", d.Path}, {"serial", d.Serial}, {"wwn", d.WWN}} {
		if p.v != "" {
			parts = append(parts, p.k+"="+p.v)
		}
	}
	if d.MinSize > 0 {
		parts = append(parts, ">="+bytesize.Format(d.MinSize))
	}
	if d.MaxSize > 0 {
		parts = append(parts, "<="+bytesize.Format(d.MaxSize))
	}
	if len(parts) == 0 {
		return "first non-removable disk"
	}
	return strings.Join(parts, " ")
}

func machinesRemove(c *cli.Context, api *apiClient, name string) error {
	return remove(c, api, apiPath("machines", name), "removed", name, "Machine "+name+" removed.")
}

func machinesAdopt(c *cli.Context, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("machines adopt: expected two arguments, DISCOVERED-NAME|MAC NEW-NAME, got %d", len(args))
	}
	old, name := args[0], args[1]
	if mac, err := boot.NormalizeMAC(old); err == nil {
		old = store.DiscoveredName(mac)
	}
	var check machineBody
	if err := applyMachineFlags(c, &check); err != nil { // before any request
		return err
	}
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	var v machineView
	if _, err := api.do(c.Context, "GET", apiPath("machines", old), nil, &v); err != nil {
		return err
	}
	if !v.Discovered {
		return fmt.Errorf("machine %s is not a discovered machine: nothing to adopt", old)
	}
	b := bodyOf(v.Machine)
	b.Name = name
	if err := applyMachineFlags(c, &b); err != nil {
		return err
	}
	return exchange(c, api, "PUT", apiPath("machines", old), b, func(w io.Writer, m boot.Machine) error {
		_, err := fmt.Fprintf(w, "Machine %s adopted as %s (%s).\n", old, m.Name, strings.Join(m.MACs, ", "))
		return err
	})
}
