package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/byoi/byoi/store/storetest"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func TestContract(t *testing.T) {
	var paths sync.Map // *testing.T → file path, so that a second open reopens
	storetest.Run(t, func(t *testing.T) storetest.Store {
		p, _ := paths.LoadOrStore(t, filepath.Join(t.TempDir(), "byoi.db"))
		s, err := store.Open(p.(string), store.Options{})
		if err != nil {
			t.Fatalf("Open(%s) = %v", p, err)
		}
		return s
	})
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "byoi.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return b.Put([]byte("version"), []byte("99"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := store.Open(path, store.Options{})
	if !errors.Is(err, store.ErrNewerSchema) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open(schema 99) = %v, want ErrNewerSchema", err)
	}
}

func TestOpenWritesVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "byoi.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("meta")); b != nil {
			v = string(b.Get([]byte("version")))
		}
		return nil
	})
	if want := fmt.Sprint(store.SchemaVersion); v != want {
		t.Errorf("schema version on disk = %q, want %q", v, want)
	}
}

func TestOpenLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "byoi.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer s.Close()
	start := time.Now()
	s2, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatalf("second Open() of a locked file = nil, want a timeout error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("second Open() took %v, want about the 100ms timeout", d)
	}
}

func TestCancelledContext(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CreateMachine(ctx, boot.Machine{Name: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateMachine(cancelled ctx) = %v, want context.Canceled", err)
	}
	if _, err := s.Machines(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Machines(cancelled ctx) = %v, want context.Canceled", err)
	}
}

func TestDiscoveredName(t *testing.T) {
	if got, want := store.DiscoveredName("52:54:00:ab:cd:ef"), "discovered-525400abcdef"; got != want {
		t.Errorf("DiscoveredName() = %q, want %q", got, want)
	}
}

func TestTaskStatusCounts(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer s.Close()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := s.CreateMachine(ctx, boot.Machine{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	statuses := map[string][]boot.Status{"a": {boot.StatusDone, boot.StatusTodo}, "b": {boot.StatusDoing}, "c": {boot.StatusDone}}
	for m, sts := range statuses {
		for _, st := range sts {
			if _, err := s.CreateTask(ctx, boot.Task{Machine: m, Status: st}); err != nil {
				t.Fatalf("CreateTask(%s, %s) = %v", m, st, err)
			}
		}
	}
	got, err := s.TaskStatusCounts(ctx)
	if err != nil {
		t.Fatalf("TaskStatusCounts() = %v", err)
	}
	want := map[boot.Status]int{boot.StatusDone: 2, boot.StatusTodo: 1, boot.StatusDoing: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TaskStatusCounts() mismatch (-want +got):\n%s", diff)
	}
}
