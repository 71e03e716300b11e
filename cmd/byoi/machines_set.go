package main

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/urfave/cli/v2"
)

func machinesSetCommand() *cli.Command {
	return &cli.Command{
		Name:  "set",
		Usage: "change a machine's fields; the fields not given are kept (an empty value clears a field)",
		UsageText: "byoi machines set rack1-07 --disk-serial S3Z9NX0M --efi-bootloader-path '\\efi\\debian\\shimx64.efi'\n" +
			"   byoi machines set rack1-07 --add-mac 52:54:00:12:34:57 --ipv4 ''\n" +
			"   byoi machines set rack1-07 --disk-group 1:serial=ABC,min-size=500G --disk-group 2:",
		ArgsUsage: "NAME",
		Flags: withClientFlags(append([]cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "rename the machine"},
			&cli.StringSliceFlag{Name: "mac", Usage: "replace the boot MACs with these (repeatable)"},
			&cli.StringSliceFlag{Name: "add-mac", Usage: "add a boot MAC (repeatable)"},
			&cli.StringSliceFlag{Name: "remove-mac", Usage: "remove a boot MAC (repeatable)"},
			&cli.StringFlag{Name: "boot-mode", Usage: "what the machine boots when no task waits: local (its disk) or next-device"},
			&cli.StringSliceFlag{Name: "disk-group", Usage: "N:KEY=VALUE,… a diskGroupId rule (keys path, serial, wwn, min-size, max-size); N: alone removes group N (repeatable)"},
		}, machineSetFlags()...)...),
		Action: clientAction(machinesSet),
	}
}

// machinePatch builds the JSON merge patch of `machines set` from its
// flags, checking every value before anything is sent. An empty value is
// null: the field is reset.
func machinePatch(c *cli.Context) (map[string]any, error) {
	p := map[string]any{}
	str := func(flag, field string, check func(string) error) error {
		if !c.IsSet(flag) {
			return nil
		}
		v := strings.TrimSpace(c.String(flag))
		if v == "" {
			p[field] = nil
			return nil
		}
		if check != nil {
			if err := check(v); err != nil {
				return fmt.Errorf("--%s: %w", flag, err)
			}
		}
		p[field] = v
		return nil
	}
	ipv4 := func(v string) error {
		if net.ParseIP(v).To4() == nil {
			return fmt.Errorf("%q is not an IPv4 address", v)
		}
		return nil
	}
	if err := str("ipv4", "ipv4", ipv4); err != nil {
		return nil, err
	}
	if err := str("efi-bootloader-path", "efiBootloaderPath", boot.ValidateEFIPath); err != nil {
		return nil, err
	}
	if c.IsSet("name") {
		if err := boot.ValidateName(c.String("name")); err != nil {
			return nil, fmt.Errorf("--name: %w", err)
		}
		p["serviceName"] = c.String("name")
	}
	if c.IsSet("boot-mode") {
		switch v := c.String("boot-mode"); v {
		case "local":
			p["bootMode"] = "local"
		case "next-device", "":
			p["bootMode"] = ""
		default:
			return nil, fmt.Errorf("--boot-mode %q: use local or next-device", v)
		}
	}
	disk := map[string]any{}
	for flag, field := range map[string]string{"disk-path": "path", "disk-serial": "serial", "disk-wwn": "wwn"} {
		if c.IsSet(flag) {
			if v := strings.TrimSpace(c.String(flag)); v != "" {
				disk[field] = v
			} else {
				disk[field] = nil
			}
		}
	}
	for flag, field := range map[string]string{"disk-min-size": "minSize", "disk-max-size": "maxSize"} {
		if !c.IsSet(flag) {
			continue
		}
		n, err := parseSize(c.String(flag))
		if strings.TrimSpace(c.String(flag)) == "" {
			n, err = 0, nil
		}
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		if n == 0 {
			disk[field] = nil
		} else {
			disk[field] = n
		}
	}
	if len(disk) > 0 {
		p["disk"] = disk
	}
	groups, err := diskGroupsPatch(c.StringSlice("disk-group"))
	if err != nil {
		return nil, err
	}
	if groups != nil {
		p["diskGroups"] = groups
	}
	for _, flag := range []string{"mac", "add-mac", "remove-mac"} {
		for _, v := range c.StringSlice(flag) {
			if _, err := boot.NormalizeMAC(v); err != nil {
				return nil, fmt.Errorf("--%s: %w", flag, err)
			}
		}
	}
	if c.IsSet("mac") && (c.IsSet("add-mac") || c.IsSet("remove-mac")) {
		return nil, fmt.Errorf("--mac replaces the list: use it alone, or --add-mac/--remove-mac")
	}
	if c.IsSet("mac") {
		p["macs"] = normalizedMACs(c.StringSlice("mac"))
	}
	return p, nil
}

func normalizedMACs(in []string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		mac, _ := boot.NormalizeMAC(v) // checked before
		out = append(out, mac)
	}
	return out
}

// diskGroupsPatch parses --disk-group N:key=value,… values.
func diskGroupsPatch(values []string) (map[string]any, error) {
	if len(values) == 0 {
		return nil, nil
	}
	// StringSliceFlag splits values on commas: put each group's rule back
	// together ("1:serial=A", "min-size=1G" → "1:serial=A,min-size=1G").
	var joined []string
	for _, v := range values {
		if id, _, ok := strings.Cut(v, ":"); ok && id != "" && strings.Trim(id, "0123456789") == "" || len(joined) == 0 {
			joined = append(joined, v)
		} else {
			joined[len(joined)-1] += "," + v
		}
	}
	values = joined
	out := map[string]any{}
	keys := map[string]string{"path": "path", "serial": "serial", "wwn": "wwn", "min-size": "minSize", "max-size": "maxSize"}
	for _, v := range values {
		id, rule, ok := strings.Cut(v, ":")
		n, err := strconv.Atoi(id)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("--disk-group %q: use N:KEY=VALUE,… (e.g. 1:serial=ABC,min-size=500G), or N: to remove group N", v)
		}
		if strings.TrimSpace(rule) == "" {
			out[id] = nil
			continue
		}
		hints := map[string]any{}
		for _, kv := range strings.Split(rule, ",") {
			k, val, ok := strings.Cut(kv, "=")
			field, known := keys[strings.TrimSpace(k)]
			if !ok || !known {
				var names []string
				for k := range keys {
					names = append(names, k)
				}
				slices.Sort(names)
				if s, ok := closest(strings.TrimSpace(k), names); ok {
					return nil, fmt.Errorf("--disk-group %q: unknown key %q (did you mean %s?)", v, k, s)
				}
				return nil, fmt.Errorf("--disk-group %q: keys are %s", v, strings.Join(names, ", "))
			}
			if field == "minSize" || field == "maxSize" {
				size, err := parseSize(val)
				if err != nil {
					return nil, fmt.Errorf("--disk-group %q: %w", v, err)
				}
				hints[field] = size
			} else {
				hints[field] = strings.TrimSpace(val)
			}
		}
		out[id] = hints
	}
	return out, nil
}

func machinesSet(c *cli.Context, args []string) error {
	name, err := oneArg(c, args, "the machine name")
	if err != nil {
		return err
	}
	patch, err := machinePatch(c)
	if err != nil {
		return err
	}
	if len(patch) == 0 && !c.IsSet("add-mac") && !c.IsSet("remove-mac") {
		return fmt.Errorf("machines set: nothing to change: give at least one field flag (see `byoi help machines set`)")
	}
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	if c.IsSet("add-mac") || c.IsSet("remove-mac") {
		var v machineView
		if _, err := api.do(c.Context, "GET", apiPath("machines", name), nil, &v); err != nil {
			return err
		}
		macs := slices.Clone(v.MACs)
		for _, mac := range normalizedMACs(c.StringSlice("remove-mac")) {
			i := slices.Index(macs, mac)
			if i < 0 {
				return fmt.Errorf("--remove-mac %s: machine %s has no such MAC (it has %s)", mac, name, strings.Join(v.MACs, ", "))
			}
			macs = slices.Delete(macs, i, i+1)
		}
		for _, mac := range normalizedMACs(c.StringSlice("add-mac")) {
			if !slices.Contains(macs, mac) {
				macs = append(macs, mac)
			}
		}
		patch["macs"] = macs
	}
	return exchange(c, api, "PATCH", apiPath("machines", name), patch, func(w io.Writer, m boot.Machine) error {
		fmt.Fprintf(w, "Machine %s changed.\n", m.Name)
		return printMachine(w, machineView{Machine: m})
	})
}
