package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/google/go-cmp/cmp"
)

// TestBackupWhileWriting copies the store while writers keep adding
// machines: the copy opens as a store and holds a prefix of the writes
// (every machine it has is complete, none is missing before the last).
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(filepath.Join(dir, "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			m := boot.Machine{Name: fmt.Sprintf("m%03d", i), MACs: []string{fmt.Sprintf("52:54:00:00:%02x:%02x", i/256, i%256)}}
			if _, err := s.CreateMachine(ctx, m); err != nil {
				t.Errorf("CreateMachine(%s) = %v", m.Name, err)
				return
			}
		}
	}()
	var copies []string
	for i := 0; i < 5; i++ {
		p := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
		written, err := s.BackupFile(ctx, p)
		if err != nil {
			t.Fatalf("BackupFile(%s) = %v", p, err)
		}
		fi, err := os.Stat(p)
		if err != nil || fi.Size() != written || fi.Mode().Perm() != 0o600 {
			t.Fatalf("backup %s: stat = %v, %v; want %d bytes, mode 0600", p, fi, err, written)
		}
		copies = append(copies, p)
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	final := filepath.Join(dir, "final.db")
	if _, err := s.BackupFile(ctx, final); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(copies, final) {
		c, err := store.Open(p, store.Options{})
		if err != nil {
			t.Fatalf("Open(backup %s) = %v", p, err)
		}
		ms, err := c.Machines(ctx)
		c.Close()
		if err != nil {
			t.Fatalf("Machines(backup %s) = %v", p, err)
		}
		for i, m := range ms {
			if want := fmt.Sprintf("m%03d", i); m.Name != want || len(m.MACs) != 1 {
				t.Fatalf("backup %s: machine %d = %+v, want %s with its MAC (a prefix of the writes)", p, i, m, want)
			}
		}
		if p == final && len(ms) != n {
			t.Errorf("final backup has %d machines, want %d", len(ms), n)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestBackupFileKeepsOldOnError: a backup into a directory that does not
// exist fails and leaves nothing.
func TestBackupFileFails(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := filepath.Join(t.TempDir(), "missing", "copy.db")
	if _, err := s.BackupFile(context.Background(), p); err == nil {
		t.Fatalf("BackupFile(%s) = nil, want an error", p)
	}
}

// TestOpenLockedSaysWho opens the same store twice: the second Open fails
// at once after its timeout, naming the process that holds it.
func TestOpenLockedSaysWho(t *testing.T) {
	path := filepath.Join(t.TempDir(), "byoi.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = store.Open(path, store.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	var le *store.LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Open = %#v, want a LockedError with pid %d", err, os.Getpid())
	}
	want := fmt.Sprintf("byoi is already running (pid %d)", os.Getpid())
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "timeout") {
		t.Errorf("error = %q, want it to contain %q and no bare timeout", err, want)
	}
}

func TestRecentTasks(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, name := range []string{"a", "b"} {
		if _, err := s.CreateMachine(ctx, boot.Machine{Name: name, MACs: []string{fmt.Sprintf("52:54:00:00:00:0%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		machine string
		status  boot.Status
	}{{"a", boot.StatusDone}, {"b", boot.StatusDone}, {"a", boot.StatusCancelled}, {"b", boot.StatusTodo}} {
		if _, err := s.CreateTask(ctx, boot.Task{Machine: tc.machine, Status: tc.status}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ts []boot.Task) []int64 {
		var out []int64
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		limit int
		keep  func(boot.Task) bool
		want  []int64
	}{
		{"all", 0, nil, []int64{4, 3, 2, 1}},
		{"limit", 2, nil, []int64{4, 3}},
		{"machine a", 0, func(t boot.Task) bool { return t.Machine == "a" }, []int64{3, 1}},
		{"done, limit 1", 1, func(t boot.Task) bool { return t.Status == boot.StatusDone }, []int64{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := s.RecentTasks(ctx, tc.limit, tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, ids(ts)); diff != "" {
				t.Errorf("RecentTasks(%d) IDs (-want +got):\n%s", tc.limit, diff)
			}
		})
	}
}
