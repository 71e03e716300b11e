package store_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/byoi/byoi/store/storetest"
	"github.com/google/go-cmp/cmp"
)

// TestActiveTasks: the installer watchdog's scan sees every todo and doing
// task across machines, in ID order, and nothing that ended.
func TestActiveTasks(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer st.Close()
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	statuses := map[string]boot.Status{"a": boot.StatusDoing, "b": boot.StatusDone, "c": boot.StatusTodo, "d": boot.StatusCancelled}
	want := map[string]int64{}
	for _, name := range []string{"a", "b", "c", "d"} {
		if _, err := st.CreateMachine(ctx, boot.Machine{Name: name}); err != nil {
			t.Fatal(err)
		}
		task, err := st.CreateTask(ctx, boot.Task{Machine: name, Status: boot.StatusTodo, Steps: boot.NewSteps(), Created: now})
		if err != nil {
			t.Fatal(err)
		}
		if s := statuses[name]; s != boot.StatusTodo {
			if s == boot.StatusDone {
				if _, err := st.UpdateTask(ctx, task.ID, func(t *boot.Task) error { return storetest.SetStatus(t, boot.StatusDoing, now) }); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.UpdateTask(ctx, task.ID, func(t *boot.Task) error { return storetest.SetStatus(t, s, now) }); err != nil {
				t.Fatalf("UpdateTask(%s → %s) = %v", name, s, err)
			}
		}
		if statuses[name].Active() {
			want[name] = task.ID
		}
	}
	ts, err := st.ActiveTasks(ctx)
	if err != nil {
		t.Fatalf("ActiveTasks() = %v", err)
	}
	got := map[string]int64{}
	for i, task := range ts {
		got[task.Machine] = task.ID
		if i > 0 && ts[i-1].ID >= task.ID {
			t.Errorf("ActiveTasks() not in ID order: %d before %d", ts[i-1].ID, task.ID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ActiveTasks() machines → IDs (-want +got):\n%s", diff)
	}
}
