package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

func TestStatus(t *testing.T) {
	created := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	running := taskStates(boot.StatusDone)[7] // writing, 2 GiB of 4
	running.Created, running.Spec = created, boot.InstallSpec{ImageURL: "http://i/d.qcow2", ImageType: "qcow2"}
	old := boot.Task{ID: 3, Machine: "rack1-07", Status: boot.StatusDone, Steps: boot.NewSteps(), Created: created}
	failed := boot.Task{ID: 5, Machine: "rack1-07", Status: boot.StatusCustomerError, Message: "Could not download image: 404", Steps: boot.NewSteps(), Created: created}
	for _, tc := range []struct {
		name     string
		tasks    []boot.Task
		wantID   int64
		wantText []string
		wantErr  string
	}{
		{"active task", []boot.Task{old, running}, 42, []string{
			"Task 42 on rack1-07: installing\n", "  image: http://i/d.qcow2 (qcow2)\n",
			"  created " + formatTime(created) + ", started -, last update -, done -\n",
			"  1. done   Downloading image (1.0 GiB)\n", "  4. doing  Writing image to disk\n",
			"     [############............]  50%  2.0 GiB / 4.0 GiB\n", "  8. todo   Rebooting\n"}, ""},
		{"latest when none is active", []boot.Task{old, failed}, 5, []string{"Task 5 on rack1-07: failed (image or request)\n  Could not download image: 404\n"}, ""},
		{"no task", nil, 0, nil, "machine rack1-07 has no task yet: start one with `byoi deploy rack1-07 …`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.machines["rack1-07"] = boot.Machine{Name: "rack1-07"}
			for _, tk := range tc.tasks {
				f.tasks[tk.ID] = []boot.Task{tk}
			}
			out, err := f.run(t, "status", "rack1-07")
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("status = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(out, s) {
					t.Errorf("status output lacks %q:\n%s", s, out)
				}
			}
			out, err = f.run(t, "status", "rack1-07", "-o", "json")
			var got boot.Task
			if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.ID != tc.wantID {
				t.Errorf("status -o json = %q, %v, want task %d", out, err, tc.wantID)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	f := newFakeAPI(t)
	f.machines["rack1-07"] = boot.Machine{Name: "rack1-07"}
	f.machines["idle"] = boot.Machine{Name: "idle"}
	f.tasks[42] = []boot.Task{{ID: 42, Machine: "rack1-07", Status: boot.StatusTodo}}
	f.tasks[9] = []boot.Task{{ID: 9, Machine: "idle", Status: boot.StatusDone}}
	out, err := f.run(t, "cancel", "rack1-07")
	if err != nil || out != "Task 42 on rack1-07: cancelled\n" {
		t.Fatalf("cancel = %q, %v", out, err)
	}
	if r := f.last("POST"); r.Path != "/api/v1/tasks/42/cancel" {
		t.Errorf("cancel posted to %s, want /api/v1/tasks/42/cancel", r.Path)
	}
	if _, err := f.run(t, "cancel", "idle"); err == nil || err.Error() != "machine idle has no active task (its latest, 9, is done)" {
		t.Errorf("cancel idle = %v", err)
	}
	if _, err := f.run(t, "cancel"); err == nil || err.Error() != "cancel: expected one argument, the machine name, got 0" {
		t.Errorf("cancel without a name = %v", err)
	}
}
