package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	bolt "go.etcd.io/bbolt"
)

// TestMigrateSchema2: a schema 2 file's token index holds the task's key
// alone; opened by this byoi, each entry gets its task's active flag, and an
// entry whose task is gone is dropped.
func TestMigrateSchema2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "byoi.db")
	s, err := store.Open(path, store.Options{BatchDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for i, name := range []string{"a", "b"} {
		if _, err := s.CreateMachine(ctx, boot.Machine{Name: name, MACs: []string{"52:54:00:00:03:0" + string(rune('1'+i))}}); err != nil {
			t.Fatal(err)
		}
		task, err := s.CreateTask(ctx, boot.Task{Machine: name, Function: "reinstallServer", Status: boot.StatusTodo, TokenHash: "hash-" + name,
			Spec: boot.InstallSpec{OperatingSystem: boot.OSBYOI, ImageURL: "http://198.51.100.1/img.raw", ImageType: "raw"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	for _, st := range []boot.Status{boot.StatusDoing, boot.StatusDone} { // b's task ends
		if _, err := s.UpdateTask(ctx, ids[1], func(t *boot.Task) error { t.Status = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// Make it look like schema 2: 8-byte entries, and one whose task is gone.
	rewriteStoreFile(t, path, func(tx *bolt.Tx) error {
		tokens := tx.Bucket([]byte("task_tokens"))
		for _, h := range []string{"hash-a", "hash-b"} {
			v := tokens.Get([]byte(h))
			if len(v) != 9 {
				return errors.New("token entry is not 9 bytes")
			}
			if err := tokens.Put([]byte(h), append([]byte(nil), v[:8]...)); err != nil {
				return err
			}
		}
		if err := tokens.Put([]byte("hash-gone"), []byte{0, 0, 0, 0, 0, 0, 0, 99}); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("2"))
	})

	s = openCaps(t, path, store.Options{BatchDelay: -1})
	for i, want := range []bool{true, false} {
		h := "hash-" + []string{"a", "b"}[i]
		if id, active, err := s.TokenTask(ctx, h); err != nil || id != ids[i] || active != want {
			t.Errorf("TokenTask(%s) after migration = %d, %v, %v; want %d, %v", h, id, active, err, ids[i], want)
		}
	}
	if _, _, err := s.TokenTask(ctx, "hash-gone"); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("TokenTask(entry of a missing task) after migration = %v, want ErrNotFound", err)
	}
}
