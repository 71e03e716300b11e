package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	bolt "go.etcd.io/bbolt"
)

// rewriteStoreFile changes a closed store's file with bbolt directly, to
// make it look like one an older byoi wrote.
func rewriteStoreFile(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func openCaps(t *testing.T, path string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestDiscoveredCap: unknown MACs beyond MaxDiscovered push out the oldest
// discovered machines (with their events), never an adopted one, and the
// count of what was dropped is kept.
func TestDiscoveredCap(t *testing.T) {
	ctx := context.Background()
	s := openCaps(t, filepath.Join(t.TempDir(), "byoi.db"), store.Options{MaxDiscovered: 3, BatchDelay: -1})
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	boot1 := func(i int) boot.Machine {
		t.Helper()
		m, created, err := s.RecordBoot(ctx, fmt.Sprintf("52:54:00:00:01:%02x", i), "efi/x86_64", t0.Add(time.Duration(i)*time.Second), true)
		if err != nil || !created {
			t.Fatalf("RecordBoot(%d) = created %v, %v", i, created, err)
		}
		if _, err := s.AppendEvent(ctx, boot.Event{Machine: m.Name, Kind: boot.EventDiscovered, Time: m.Created}); err != nil {
			t.Fatalf("AppendEvent() = %v", err)
		}
		return m
	}
	first := boot1(0)
	adopted := boot1(1)
	if _, err := s.UpdateMachine(ctx, adopted.Name, func(m *boot.Machine) error { m.Name, m.Discovered = "kept", false; return nil }); err != nil {
		t.Fatalf("adopt: %v", err)
	}
	for i := 2; i < 8; i++ {
		boot1(i)
	}
	ms, _ := s.Machines(ctx)
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	want := []string{"discovered-525400000105", "discovered-525400000106", "discovered-525400000107", "kept"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("Machines() = %v, want %v (3 newest discovered and the adopted one)", names, want)
	}
	if es, _ := s.Events(ctx, first.Name, 0); len(es) != 0 {
		t.Errorf("Events(%s) after eviction = %d events, want none", first.Name, len(es))
	}
	if _, err := s.MachineByMAC(ctx, first.MACs[0]); err == nil {
		t.Errorf("MachineByMAC(evicted) found a machine, want ErrNotFound")
	}
	if d := s.Dropped(); d.DiscoveredMachines != 4 {
		t.Errorf("Dropped().DiscoveredMachines = %d, want 4", d.DiscoveredMachines)
	}
}

// TestEventCap: a machine keeps its newest MaxEvents events, across a
// rename, and deleting it leaves no count behind.
func TestEventCap(t *testing.T) {
	ctx := context.Background()
	s := openCaps(t, filepath.Join(t.TempDir(), "byoi.db"), store.Options{MaxEvents: 5, BatchDelay: -1})
	if _, err := s.CreateMachine(ctx, boot.Machine{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	add := func(name string, from, to int) {
		for i := from; i < to; i++ {
			if _, err := s.AppendEvent(ctx, boot.Event{Machine: name, Kind: boot.EventStep, Message: fmt.Sprint(i)}); err != nil {
				t.Fatalf("AppendEvent(%d) = %v", i, err)
			}
		}
	}
	msgs := func(name string) string {
		es, err := s.Events(ctx, name, 0)
		if err != nil {
			t.Fatalf("Events(%s) = %v", name, err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Message)
		}
		return fmt.Sprint(out)
	}
	add("a", 0, 12)
	if got, want := msgs("a"), "[7 8 9 10 11]"; got != want {
		t.Errorf("Events(a) after 12 appends = %s, want %s", got, want)
	}
	if _, err := s.UpdateMachine(ctx, "a", func(m *boot.Machine) error { m.Name = "b"; return nil }); err != nil {
		t.Fatal(err)
	}
	add("b", 12, 14)
	if got, want := msgs("b"), "[9 10 11 12 13]"; got != want {
		t.Errorf("Events(b) after rename and 2 appends = %s, want %s", got, want)
	}
	if d := s.Dropped(); d.Events != 9 {
		t.Errorf("Dropped().Events = %d, want 9", d.Events)
	}
	if err := s.DeleteMachine(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMachine(ctx, boot.Machine{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	add("b", 0, 2)
	if got, want := msgs("b"), "[0 1]"; got != want {
		t.Errorf("Events(new b) = %s, want %s (no count left from the deleted machine)", got, want)
	}
}

// TestMigrateSchema1: a file written by schema 1 (no discovered index, no
// event counts) gets both when opened, so the caps hold for old data too.
func TestMigrateSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "byoi.db")
	s, err := store.Open(path, store.Options{BatchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		m, _, err := s.RecordBoot(ctx, fmt.Sprintf("52:54:00:00:02:%02x", i), "", time.Unix(int64(i), 0), true)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 4 {
			if _, err := s.AppendEvent(ctx, boot.Event{Machine: m.Name, Message: fmt.Sprint(j)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
	// Make it look like schema 1: drop the new buckets and the count.
	rewriteStoreFile(t, path, func(tx *bolt.Tx) error {
		for _, b := range []string{"discovered", "event_counts"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		meta := tx.Bucket([]byte("meta"))
		if err := meta.Delete([]byte("discovered_count")); err != nil {
			return err
		}
		return meta.Put([]byte("version"), []byte("1"))
	})
	s = openCaps(t, path, store.Options{MaxDiscovered: 2, MaxEvents: 2, BatchDelay: -1})
	if _, _, err := s.RecordBoot(ctx, "52:54:00:00:02:ff", "", time.Unix(100, 0), true); err != nil {
		t.Fatal(err)
	}
	ms, _ := s.Machines(ctx)
	if len(ms) != 2 || ms[0].Name != "discovered-525400000203" || ms[1].Name != "discovered-5254000002ff" {
		t.Errorf("Machines() after migration and one more = %+v, want the two newest", ms)
	}
	if _, err := s.AppendEvent(ctx, boot.Event{Machine: "discovered-525400000203", Message: "x"}); err != nil {
		t.Fatal(err)
	}
	if es, _ := s.Events(ctx, "discovered-525400000203", 0); len(es) != 2 || es[1].Message != "x" {
		t.Errorf("Events() after migration = %+v, want the 2 newest", es)
	}
}
