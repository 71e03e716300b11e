package store

import (
	"bytes"
	"fmt"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// Secondary index maintenance for renames and deletes: the per-machine
// "name \x00 id" indexes of tasks and events.

// renameMachine moves the record key and every index entry from old to
// name. The caller writes the machine record itself.
func renameMachine(tx *bolt.Tx, old, name string) error {
	if tx.Bucket(bucketMachines).Get([]byte(name)) != nil {
		return fmt.Errorf("name already taken: %w", boot.ErrConflict)
	}
	if tx.Bucket(bucketActive).Get([]byte(old)) != nil {
		return fmt.Errorf("an installation task is active: %w", boot.ErrConflict)
	}
	if err := tx.Bucket(bucketMachines).Delete([]byte(old)); err != nil {
		return err
	}
	err := moveIndex(tx, bucketMachineTasks, bucketTasks, old, name, func(raw []byte) ([]byte, error) {
		return rewriteOwner(raw, &boot.Task{}, func(t *boot.Task) { t.Machine = name })
	})
	if err != nil {
		return err
	}
	err = moveIndex(tx, bucketMachineEvts, bucketEvents, old, name, func(raw []byte) ([]byte, error) {
		return rewriteOwner(raw, &boot.Event{}, func(e *boot.Event) { e.Machine = name })
	})
	if err != nil {
		return err
	}
	counts := tx.Bucket(bucketEventCounts)
	if n := counts.Get([]byte(old)); n != nil {
		if err := counts.Put([]byte(name), append([]byte(nil), n...)); err != nil {
			return err
		}
		return counts.Delete([]byte(old))
	}
	return nil
}

// moveIndex re-keys the "old \x00 id" entries of index under name and
// rewrites the records they point to in records.
func moveIndex(tx *bolt.Tx, index, records []byte, old, name string, rewrite func([]byte) ([]byte, error)) error {
	idx, recs := tx.Bucket(index), tx.Bucket(records)
	prefix := subPrefix(old)
	var ids [][]byte
	c := idx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, append([]byte(nil), k[len(prefix):]...))
	}
	for _, id := range ids {
		if err := idx.Delete(append(append([]byte(nil), prefix...), id...)); err != nil {
			return err
		}
		if err := idx.Put(append(subPrefix(name), id...), nil); err != nil {
			return err
		}
		raw, err := rewrite(recs.Get(id))
		if err != nil {
			return err
		}
		if err := recs.Put(id, raw); err != nil {
			return err
		}
	}
	return nil
}

func rewriteOwner[T any](raw []byte, v *T, set func(*T)) ([]byte, error) {
	if err := jsonUnmarshal(raw, v); err != nil {
		return nil, err
	}
	set(v)
	return jsonMarshal(v)
}

// deleteIndexed deletes the "name \x00 id" index entries and their records,
// calling before (if set) with each record first.
func deleteIndexed(tx *bolt.Tx, index, records []byte, name string, before func([]byte) error) error {
	idx, recs := tx.Bucket(index), tx.Bucket(records)
	prefix := subPrefix(name)
	var keys [][]byte
	c := idx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		id := k[len(prefix):]
		if before != nil {
			if raw := recs.Get(id); raw != nil {
				if err := before(raw); err != nil {
					return err
				}
			}
		}
		if err := recs.Delete(id); err != nil {
			return err
		}
		if err := idx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
