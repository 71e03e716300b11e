package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func logTask(t *testing.T, s *store.Store, machine string) boot.Task {
	t.Helper()
	ctx := context.Background()
	if _, err := s.CreateMachine(ctx, boot.Machine{Name: machine}); err != nil {
		t.Fatal(err)
	}
	task, err := s.CreateTask(ctx, boot.Task{Machine: machine, Status: boot.StatusDoing, Steps: boot.NewStepsFor(boot.OSBYOLinux)})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func logTexts(t *testing.T, s *store.Store, id int64) (boot.TaskLog, []string) {
	t.Helper()
	log, err := s.TaskLog(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatalf("TaskLog(%d) = %v", id, err)
	}
	var out []string
	for _, l := range log.Lines {
		out = append(out, l.Text)
	}
	return log, out
}

// TestTaskLogCaps: a log over MaxLogLines or MaxLogBytes loses its oldest
// lines, counted in the log and in Dropped; indexes go on.
func TestTaskLogCaps(t *testing.T) {
	ctx := context.Background()
	s := openCaps(t, filepath.Join(t.TempDir(), "byoi.db"), store.Options{MaxLogLines: 5, MaxLogBytes: 40, BatchDelay: -1})
	task := logTask(t, s, "a")
	var sent []string
	for i := range 12 {
		sent = append(sent, fmt.Sprintf("line %02d", i)) // 7 bytes each
	}
	res, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: boot.StepBootloader, Lines: sent[:8]}, nil)
	if err != nil || res.Stored != 8 || res.Dropped != 3 {
		t.Fatalf("AppendTaskLog(8 lines, cap 5) = %+v, %v; want 8 stored, 3 dropped", res, err)
	}
	log, got := logTexts(t, s, task.ID)
	if diff := cmp.Diff(sent[3:8], got); diff != "" || log.First != 3 || log.Dropped != 3 || log.Next != 8 {
		t.Errorf("TaskLog() = first %d, dropped %d, next %d, want 3, 3, 8; lines (-want +got):\n%s", log.First, log.Dropped, log.Next, diff)
	}
	// A from below the oldest line kept starts at it.
	if log, _ := s.TaskLog(ctx, task.ID, 1, 1); len(log.Lines) != 1 || log.Lines[0].Index != 3 {
		t.Errorf("TaskLog(from 1) = %+v, want line 3 first", log.Lines)
	}
	// Bytes: 40 bytes hold five 7-byte lines but not a 30-byte one with
	// them.
	long := strings.Repeat("x", 30)
	if _, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: boot.StepBootloader, Seq: 8, Lines: []string{long}}, nil); err != nil {
		t.Fatal(err)
	}
	log, got = logTexts(t, s, task.ID)
	if diff := cmp.Diff([]string{sent[7], long}, got); diff != "" || log.Dropped != 7 {
		t.Errorf("TaskLog() after a long line = dropped %d, want 7; lines (-want +got):\n%s", log.Dropped, diff)
	}
	if d := s.Dropped(); d.LogLines != 7 {
		t.Errorf("Dropped().LogLines = %d, want 7", d.LogLines)
	}
	// Sent again, what was dropped for the cap is not stored again.
	if res, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: boot.StepBootloader, Lines: sent[:9]}, nil); err != nil || res.Stored != 0 || res.Duplicate != 9 {
		t.Errorf("AppendTaskLog(resent) = %+v, %v; want 9 duplicates", res, err)
	}
}

// TestTaskLogGoesWithMachine: deleting a machine deletes its tasks' logs
// to the last key, and nothing of another machine's.
func TestTaskLogGoesWithMachine(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "byoi.db")
	s, err := store.Open(path, store.Options{BatchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := logTask(t, s, "a"), logTask(t, s, "b")
	for _, id := range []int64{a.ID, b.ID} {
		if _, err := s.AppendTaskLog(ctx, id, boot.LogBatch{Step: boot.StepBootloader, Lines: []string{"one", "two"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateTask(ctx, a.ID, func(t *boot.Task) error { t.Status = boot.StatusDone; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMachine(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, got := logTexts(t, s, b.ID); !cmp.Equal(got, []string{"one", "two"}) {
		t.Errorf("TaskLog(b) after deleting a = %q, want its two lines", got)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range []string{"task_logs", "task_log_meta"} {
			n := 0
			tx.Bucket([]byte(name)).ForEach(func(k, _ []byte) error {
				n++
				if id := int64(k[7]); id != b.ID {
					t.Errorf("bucket %s keeps key %x of task %d after its machine was deleted", name, k, id)
				}
				return nil
			})
			if want := map[string]int{"task_logs": 2, "task_log_meta": 1}[name]; n != want {
				t.Errorf("bucket %s has %d keys, want %d (task %d's)", name, n, want, b.ID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
