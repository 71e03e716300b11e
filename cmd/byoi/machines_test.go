package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func TestMachinesAdd(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    machineBody
		wantOut string
		wantErr string
	}{
		{"one MAC", []string{"machines", "add", "rack1", "--mac", "52:54:00:12:34:56"},
			machineBody{Name: "rack1", MACs: []string{"52:54:00:12:34:56"}}, "Machine rack1 added (52:54:00:12:34:56).\n", ""},
		{"everything", []string{"machines", "add", "rack2", "--mac", "52-54-00-12-34-57", "--mac", "52:54:00:12:34:58",
			"--efi-bootloader-path", `\efi\debian\grubx64.efi`, "--ipv4", "198.51.100.20", "--disk-serial", "S1", "--disk-min-size", "100G", "--disk-max-size", "2TiB"},
			machineBody{Name: "rack2", MACs: []string{"52-54-00-12-34-57", "52:54:00:12:34:58"}, EFIBootloaderPath: `\efi\debian\grubx64.efi`,
				IPv4: "198.51.100.20", Disk: boot.DiskHints{Serial: "S1", MinSize: 100 << 30, MaxSize: 2 << 40}},
			"Machine rack2 added (52:54:00:12:34:57, 52:54:00:12:34:58).\n", ""},
		{"no MAC", []string{"machines", "add", "rack3"}, machineBody{}, "", `required flag "mac" not set`},
		{"bad size", []string{"machines", "add", "rack3", "--mac", "52:54:00:12:34:56", "--disk-min-size", "lots"}, machineBody{}, "",
			`--disk-min-size: size "lots": use a byte count`},
		{"server refuses the MAC", []string{"machines", "add", "rack3", "--mac", "nope"}, machineBody{Name: "rack3", MACs: []string{"nope"}}, "",
			`invalid MAC address "nope" (HTTP 400)`},
		{"name taken", []string{"machines", "add", "taken", "--mac", "52:54:00:12:34:59"}, machineBody{Name: "taken", MACs: []string{"52:54:00:12:34:59"}}, "",
			"machine taken already exists (HTTP 409)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.machines["taken"] = boot.Machine{Name: "taken"}
			out, err := f.run(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("byoi %s = %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.wantErr)
				}
			} else if err != nil || out != tc.wantOut {
				t.Fatalf("byoi %s = %q, %v, want %q", strings.Join(tc.args, " "), out, err, tc.wantOut)
			}
			if tc.want.Name == "" {
				return
			}
			var got machineBody
			if err := json.Unmarshal([]byte(f.last("POST").Body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("POST body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMachinesListShowRemove(t *testing.T) {
	f := newFakeAPI(t)
	seen := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.machines["rack1"] = boot.Machine{Name: "rack1", MACs: []string{"52:54:00:00:00:01"}, BootMode: boot.BootModeLocal, EFIBootloaderPath: `\efi\debian\grubx64.efi`, LastSeen: seen}
	f.machines["discovered-525400000002"] = boot.Machine{Name: "discovered-525400000002", MACs: []string{"52:54:00:00:00:02"}, Discovered: true}
	f.tasks[7] = []boot.Task{{ID: 7, Machine: "rack1", Status: boot.StatusDoing, Steps: boot.NewSteps(), Spec: boot.InstallSpec{ImageURL: "http://i/x.raw", ImageType: "raw"}}}

	out, err := f.run(t, "machines", "show", "rack1")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Name:           rack1\n", "Boot:           local\n", "Disk:           first non-removable disk\n",
		"Task 7 on rack1: installing\n", "  image: http://i/x.raw (raw)\n", "  1. todo   Downloading image\n",
		"Events:\n  " + formatTime(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) + "  machine.added: added\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("machines show output lacks %q:\n%s", line, out)
		}
	}

	if out, err := f.run(t, "machines", "rm", "rack1"); err != nil || out != "Machine rack1 removed.\n" {
		t.Errorf("machines rm = %q, %v", out, err)
	}
	if r := f.last("DELETE"); r.Path != "/api/v1/machines/rack1" {
		t.Errorf("DELETE went to %s, want /api/v1/machines/rack1", r.Path)
	}
	if _, err := f.run(t, "machines", "rm", "rack1"); err == nil || !strings.Contains(err.Error(), "(HTTP 404)") {
		t.Errorf("machines rm (again) = %v, want a 404 error", err)
	}
}

func TestMachinesAdopt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    machineBody
		wantErr string
	}{
		{"by discovered name", []string{"machines", "adopt", "discovered-525400000002", "rack9"},
			machineBody{Name: "rack9", MACs: []string{"52:54:00:00:00:02"}}, ""},
		{"by MAC, with settings", []string{"machines", "adopt", "52:54:00:00:00:02", "rack9", "--efi-bootloader-path", `\efi\boot\bootx64.efi`, "--disk-path", "/dev/nvme0n1"},
			machineBody{Name: "rack9", MACs: []string{"52:54:00:00:00:02"}, EFIBootloaderPath: `\efi\boot\bootx64.efi`, Disk: boot.DiskHints{Path: "/dev/nvme0n1"}}, ""},
		{"not discovered", []string{"machines", "adopt", "rack1", "rack9"}, machineBody{}, "machine rack1 is not a discovered machine: nothing to adopt"},
		{"one argument", []string{"machines", "adopt", "rack1"}, machineBody{}, "machines adopt: expected two arguments, DISCOVERED-NAME|MAC NEW-NAME, got 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.machines["rack1"] = boot.Machine{Name: "rack1", MACs: []string{"52:54:00:00:00:01"}}
			f.machines["discovered-525400000002"] = boot.Machine{Name: "discovered-525400000002", MACs: []string{"52:54:00:00:00:02"}, Discovered: true}
			out, err := f.run(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("byoi %s = %v, want %q", strings.Join(tc.args, " "), err, tc.wantErr)
				}
				if r := f.last("PUT"); r.Method != "" {
					t.Errorf("a PUT was sent: %+v", r)
				}
				return
			}
			if want := "Machine discovered-525400000002 adopted as rack9 (52:54:00:00:00:02).\n"; err != nil || out != want {
				t.Fatalf("byoi %s = %q, %v, want %q", strings.Join(tc.args, " "), out, err, want)
			}
			r := f.last("PUT")
			if r.Path != "/api/v1/machines/discovered-525400000002" {
				t.Errorf("PUT went to %s", r.Path)
			}
			var got machineBody
			if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PUT body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{{"512", 512, true}, {"64K", 64 << 10, true}, {"100G", 100 << 30, true}, {"100GiB", 100 << 30, true}, {"2tb", 2 << 40, true},
		{"1P", 1 << 50, true}, {"", 0, false}, {"G", 0, false}, {"-1G", 0, false}, {"1.5G", 0, false}, {"99999999P", 0, false}} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v, want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
