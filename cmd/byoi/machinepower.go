package main

import (
	"fmt"
	"io"

	"github.com/byoi/byoi/boot"
)

// printMachinePower adds to `machines show` how byoi reaches the machine's
// BMC, the power state it last saw and its last power action.
func printMachinePower(w io.Writer, m boot.Machine) {
	if m.Discovered {
		return
	}
	fmt.Fprintln(w)
	if m.Power == nil || m.Power.Driver == "" {
		fmt.Fprintf(w, "BMC: none: power-cycle it by hand (set one with `byoi power %s set`)\n", m.Name)
	} else {
		fmt.Fprintf(w, "BMC: %s at %s", m.Power.Driver, m.Power.Address)
		if m.PowerState != "" {
			fmt.Fprintf(w, ", %s when last seen (%s)", m.PowerState, formatTime(m.PowerSeen))
		}
		fmt.Fprintln(w)
	}
	if n := m.LastPower; n != nil {
		fmt.Fprintf(w, "  last action: %s\n", powerNoteText(n))
	}
}

// printMachineRescue adds, for a machine in rescue mode, where its rescue
// system answers SSH and its host keys, also as known_hosts lines for
// `ssh -o StrictHostKeyChecking=yes`.
func printMachineRescue(w io.Writer, m boot.Machine) {
	if m.BootMode != boot.BootModeRescue {
		return
	}
	r := m.Rescue
	switch {
	case r == nil:
		fmt.Fprintln(w, "Rescue: next boot (not booted yet)")
		return
	case r.Ready.IsZero() || len(r.Addresses) == 0:
		fmt.Fprintf(w, "Rescue: booted %s, not reported ready yet\n", formatTime(r.Booted))
		return
	}
	fmt.Fprintf(w, "Rescue: ssh root@%s (ready %s)\n", r.Addresses[0], formatTime(r.Ready))
	for _, a := range r.Addresses[1:] {
		fmt.Fprintf(w, "  also at %s\n", a)
	}
	for _, k := range r.HostKeys {
		fmt.Fprintf(w, "  host key %s\n", k)
	}
	for _, k := range r.HostPublicKeys {
		for _, a := range r.Addresses {
			fmt.Fprintf(w, "  known_hosts: %s %s\n", a, k)
		}
	}
}
