package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func TestBootWaitNote(t *testing.T) {
	created := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	now := created.Add(95 * time.Second)
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
		name   string
		task   boot.Task
		m      boot.Machine
		want   string // "" = no note
		waited time.Duration
	}{
		{"sent", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(2*time.Second, 1, "")},
			"power: network boot and power-cycle (reinstall, task 42) sent via ipmi at 198.51.100.20 at " + created.Add(2*time.Second).Local().Format(time.TimeOnly), 95 * time.Second},
		{"in progress", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(0, 0, "")},
			"power: network boot and power-cycle (reinstall, task 42) via ipmi at 198.51.100.20, in progress", 95 * time.Second},
		{"retrying", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(0, 2, "could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable")},
			"power: network boot and power-cycle (reinstall, task 42): attempt 2 failed, retrying: could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable", 95 * time.Second},
		{"failed", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(20*time.Second, 4, "could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable")},
			"power: network boot and power-cycle (reinstall, task 42) failed: could not power-cycle rack1-07 via IPMI at 198.51.100.20: BMC unreachable; power-cycle rack1-07 by hand (network boot first)", 95 * time.Second},
		{"no driver", todo, boot.Machine{Name: "rack1-07", LastPower: note(time.Millisecond, 0, "no power driver configured for rack1-07: power-cycle it by hand (PXE first)")},
			"power: no power driver configured for rack1-07: power-cycle it by hand (PXE first)", 95 * time.Second},
		{"older action", todo, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: &boot.PowerNote{Action: "power off", Start: created.Add(-time.Hour), End: created.Add(-time.Hour)}}, "", 0},
		{"no action", todo, boot.Machine{Name: "rack1-07"}, "", 0},
		{"booted", boot.Task{ID: 42, Machine: "rack1-07", Status: boot.StatusDoing, Created: created}, boot.Machine{Name: "rack1-07", Power: ipmi, LastPower: note(2*time.Second, 1, "")}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := bootWaitNote(tt.task, tt.m, now)
			if ok != (tt.want != "") || got.text != tt.want || got.waited != tt.waited {
				t.Errorf("bootWaitNote() = %q waited %s (%v), want %q waited %s", got.text, got.waited, ok, tt.want, tt.waited)
			}
		})
	}
}

// TestWaitPowerNotePlain: plain output prints the note when the power
// action changes and repeats it once a minute, never after the installer
// took the task.
func TestWaitPowerNotePlain(t *testing.T) {
	created := time.Date(2026, 12, 2, 13, 0, 0, 0, time.UTC)
	clock := created
	var out bytes.Buffer
	p := newProgress(&out, false, func() time.Time { return clock })
	task := boot.Task{ID: 42, Machine: "rack1-07", Status: boot.StatusTodo, Created: created, Steps: boot.NewSteps()}
	m := boot.Machine{Name: "rack1-07", Power: &boot.PowerSettings{Driver: "ipmi", Address: "198.51.100.20"},
		LastPower: &boot.PowerNote{Action: "network boot and power-cycle", Start: created}}
	poll := func(d time.Duration) {
		clock = clock.Add(d)
		p.setNote(bootWaitNote(task, m, clock))
		p.update(task)
	}
	poll(0)
	poll(time.Second) // unchanged
	m.LastPower = &boot.PowerNote{Action: "network boot and power-cycle", Start: created, Attempts: 1, Error: "BMC unreachable"}
	poll(time.Second)
	poll(30 * time.Second) // unchanged, under a minute
	poll(30 * time.Second) // a minute since it was printed
	task.Status = boot.StatusDoing
	poll(time.Second)
	want := strings.Join([]string{
		"Task 42 on rack1-07: todo",
		"  power: network boot and power-cycle via ipmi at 198.51.100.20, in progress; waiting 0s for rack1-07 to network-boot",
		"  power: network boot and power-cycle: attempt 1 failed, retrying: BMC unreachable; waiting 2s for rack1-07 to network-boot",
		"  power: network boot and power-cycle: attempt 1 failed, retrying: BMC unreachable; waiting 1m2s for rack1-07 to network-boot",
		"Task 42: doing", ""}, "\n")
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("plain output mismatch (-want +got):\n%s", diff)
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
	// The wait is counted from the task's creation on the local clock:
	// 5 s, or a little more on a slow machine.
	want := regexp.MustCompile(`^Task 42 on rack1-07: todo\n  power: network boot and power-cycle \(reinstall, task 42\) sent via qmp at unix:/run/vm.qmp at ` +
		regexp.QuoteMeta(start.Add(time.Second).Local().Format(time.TimeOnly)) + `; waiting [5-9]s for rack1-07 to network-boot\nTask 42: doing\n`)
	if !want.MatchString(out) {
		t.Errorf("byoi wait printed:\n%s\nwant it to match:\n%s", out, want)
	}

	var tty bytes.Buffer
	p := newProgress(&tty, true, nil)
	p.cols = 200
	p.setNote(bootWaitNote(states[0], f.machines["rack1-07"], start.Add(7*time.Second)))
	p.update(states[0])
	if lines := strings.Split(tty.String(), "\n"); len(lines) < 2 || !strings.HasSuffix(lines[1], "; waiting 7s for rack1-07 to network-boot") {
		t.Errorf("terminal block = %q, want the note under the header", tty.String())
	}
}
