package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

func TestPowerWaitNote(t *testing.T) {
	created := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	ipmi := &boot.PowerSettings{Driver: "ipmi", Address: "198.51.100.20"}
	note := func(end time.Duration, attempts int, err string) *boot.PowerNote {
		n := &boot.PowerNote{Action: "network boot and power-cycle", Reason: "reinstall, task 42", Start: created.Add(10 * time.Millisecond), Attempts: attempts, Error: err}
		if end > 0 {
			n.End = created.Add(end)
		}
		return n
	}
	todo := boot.Task{ID: 42, Machine: "rack1-07", Status: boot.StatusTodo, Created: created}
	tests := []struct {
		name string
		task boot.Task
		m    boot.Machine
		want string // "" = no note
	}{
		{"sent", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(2*time.Second, 1, "")},
			"power: network boot and power-cycle (reinstall, task 42) sent via ipmi at 198.51.100.20 at " + created.Add(2*time.Second).Local().Format(time.TimeOnly)},
		{"in progress", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(0, 0, "")},
			"power: network boot and power-cycle (reinstall, task 42) via ipmi at 198.51.100.20, in progress"},
		{"retrying", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(0, 2, "could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable")},
			"power: network boot and power-cycle (reinstall, task 42): attempt 2 failed, retrying: could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable"},
		{"failed", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(20*time.Second, 4, "could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable")},
			"power: network boot and power-cycle (reinstall, task 42) failed: could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable; power-cycle rack1-07 by hand (network boot first)"},
		{"no driver", todo, boot.Machine{Name: "rack1-07", LastPower: note(time.Millisecond, 0, "no power driver configured for rack1-07: power-cycle it by hand (PXE first)")},
			"power: no power driver configured for rack1-07: power-cycle it by hand (PXE first)"},
		{"older action", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: &boot.PowerNote{Action: "power off", Start: created.Add(-time.Hour), End: created.Add(-time.Hour)}}, ""},
		{"no action", todo, boot.Machine{Name: "rack1-07"}, ""},
		{"booted", boot.Task{ID: 42, Machine: "rack1-07", Status: boot.StatusDoing, Created: created}, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(2*time.Second, 1, "")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want != "" {
				want += "; waiting for rack1-07 to network-boot"
			}
			got, ok := powerWaitNote(tt.task, tt.m)
			if ok != (want != "") || got != want {
				t.Errorf("powerWaitNote() = %q (%v), want %q", got, ok, want)
			}
		})
	}
}

// TestWaitPowerNoteFromServer: `byoi wait` asks for the machine while the
// task is todo and shows its power action; the terminal block shows the
// note under its header.
func TestWaitPowerNoteFromServer(t *testing.T) {
	f := newFakeAPI(t)
	start := time.Now().Add(-5 * time.Second)
	f.machines["rack1-07"] = boot.Machine{Name: "rack1-07", Power: &boot.PowerSettings{Driver: "qmp", Address: "unix:/run/vm.qmp"},
		LastPower: &boot.PowerNote{Action: "network boot and power-cycle", Reason: "reinstall, task 42", Start: start, End: start.Add(time.Second), Attempts: 1}}
	states := taskStates(boot.StatusDone)
	for i := range states {
		states[i].Created = start
	}
	f.tasks[42] = states
	out, err := f.run(t, "wait", "rack1-07", "--interval", "1ms", "--progress", "plain")
	if err != nil {
		t.Fatal(err)
	}
	note := "power: network boot and power-cycle (reinstall, task 42) sent via qmp at unix:/run/vm.qmp at " +
		start.Add(time.Second).Local().Format(time.TimeOnly) + "; waiting for rack1-07 to network-boot"
	if want := "Task 42 on rack1-07: waiting\n  " + note + "\nTask 42: installing\n"; !strings.HasPrefix(out, want) {
		t.Errorf("byoi wait printed:\n%s\nwant it to start with:\n%s", out, want)
	}

	var tty bytes.Buffer
	p := newProgress(&tty, true, func() time.Time { return start.Add(7 * time.Second) })
	p.cols = 200
	p.setNote(note, start)
	p.update(states[0])
	if lines := strings.Split(tty.String(), "\n"); len(lines) < 2 || !strings.HasSuffix(lines[1], "  "+note+", 7s") {
		t.Errorf("terminal block = %q, want the note under the header", tty.String())
	}
}
