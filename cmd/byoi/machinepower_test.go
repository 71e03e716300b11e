package main

import (
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// TestMachinesShowPowerRescue: `machines show` tells how byoi reaches the
// BMC, the state it last saw, its last power action, and for a machine in
// rescue where to SSH and which host keys to expect.
func TestMachinesShowPowerRescue(t *testing.T) {
	at := time.Date(2026, 12, 2, 13, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		m    boot.Machine
		want []string
		not  []string
	}{
		{"rescue ready", boot.Machine{Name: "rack1", BootMode: boot.BootModeRescue,
			Power: &boot.PowerSettings{Driver: "ipmi", Address: "198.51.100.20"}, PowerState: "on", PowerSeen: at,
			LastPower: &boot.PowerNote{Action: "network boot and power-cycle", Reason: "boot rescue", Start: at, End: at.Add(time.Second), Attempts: 1},
			Rescue: &boot.RescueInfo{Booted: at, Ready: at.Add(time.Minute), Addresses: []string{"198.51.100.101", "198.51.100.102"},
				HostKeys: []string{"ED25519 SHA256:abc"}, HostPublicKeys: []string{"ssh-ed25519 AAAAC3Nz"}}},
			[]string{
				"\nBMC: ipmi at 198.51.100.20, on when last seen (" + formatTime(at) + ")\n",
				"  last action: network boot and power-cycle (boot rescue), done at 2026-12-02T13:04:06Z\n",
				"Rescue: ssh root@198.51.100.101 (ready " + formatTime(at.Add(time.Minute)) + ")\n  also at 198.51.100.102\n",
				"  host key ED25519 SHA256:abc\n",
				"  known_hosts: 198.51.100.101 ssh-ed25519 AAAAC3Nz\n  known_hosts: 198.51.100.102 ssh-ed25519 AAAAC3Nz\n",
			}, nil},
		{"rescue booting", boot.Machine{Name: "rack1", BootMode: boot.BootModeRescue, Rescue: &boot.RescueInfo{Booted: at}},
			[]string{"BMC: none: power-cycle it by hand (set one with `byoi power rack1 set`)\n",
				"Rescue: booted " + formatTime(at) + ", not reported ready yet\n"}, []string{"known_hosts"}},
		{"failed power action, disk", boot.Machine{Name: "rack1", BootMode: boot.BootModeLocal,
			Power:     &boot.PowerSettings{Driver: "ipmi", Address: "198.51.100.20"},
			LastPower: &boot.PowerNote{Action: "network boot and power-cycle", Start: at, End: at.Add(time.Minute), Attempts: 4, Error: "could not power-cycle rack1 via IPMI at 198.51.100.20: BMC unreachable"}},
			[]string{"\nBMC: ipmi at 198.51.100.20\n",
				"  last action: network boot and power-cycle, failed at 2026-12-02T13:05:05Z: could not power-cycle rack1 via IPMI at 198.51.100.20: BMC unreachable\n"},
			[]string{"Rescue:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.machines["rack1"] = tt.m
			out, err := f.run(t, "machines", "show", "rack1")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("machines show lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("machines show has %q:\n%s", w, out)
				}
			}
		})
	}
}
