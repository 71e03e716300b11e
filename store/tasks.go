package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// CreateTask stores a new task for an existing machine and returns it with
// its ID, which increases with every task. A second active task for the
// same machine is an ErrConflict.
func (s *Store) CreateTask(ctx context.Context, t boot.Task) (boot.Task, error) {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getMachine(tx, t.Machine); err != nil {
			return fmt.Errorf("create task: %w", err)
		}
		active := tx.Bucket(bucketActive)
		if t.Status.Active() {
			if id := active.Get([]byte(t.Machine)); id != nil {
				return fmt.Errorf("machine %s already has an active task (%d): %w", t.Machine, binary.BigEndian.Uint64(id), boot.ErrConflict)
			}
		}
		tasks := tx.Bucket(bucketTasks)
		seq, err := tasks.NextSequence()
		if err != nil {
			return err
		}
		t.ID = int64(seq)
		key := u64key(seq)
		if t.Status.Active() {
			if err := active.Put([]byte(t.Machine), key); err != nil {
				return err
			}
		}
		if err := indexToken(tx, "", t.TokenHash, key); err != nil {
			return err
		}
		if err := tx.Bucket(bucketMachineTasks).Put(subKey(t.Machine, seq), nil); err != nil {
			return err
		}
		return putJSON(tasks, key, t)
	})
	if err != nil {
		return boot.Task{}, err
	}
	return t, nil
}

// indexToken moves the token index entry of task key from old to hash.
func indexToken(tx *bolt.Tx, old, hash string, key []byte) error {
	if old == hash {
		return nil
	}
	tokens := tx.Bucket(bucketTokens)
	if old != "" {
		if err := tokens.Delete([]byte(old)); err != nil {
			return err
		}
	}
	if hash == "" {
		return nil
	}
	if owner := tokens.Get([]byte(hash)); owner != nil && !bytes.Equal(owner, key) {
		return fmt.Errorf("token hash already used by task %d: %w", binary.BigEndian.Uint64(owner), boot.ErrConflict)
	}
	return tokens.Put([]byte(hash), key)
}

func getTask(tx *bolt.Tx, id int64) (boot.Task, error) {
	var t boot.Task
	if id <= 0 {
		return t, fmt.Errorf("task %d: %w", id, boot.ErrNotFound)
	}
	ok, err := getJSON(tx.Bucket(bucketTasks), u64key(uint64(id)), &t)
	if err != nil {
		return t, err
	}
	if !ok {
		return t, fmt.Errorf("task %d: %w", id, boot.ErrNotFound)
	}
	return t, nil
}

// Task returns the task with the given ID.
func (s *Store) Task(ctx context.Context, id int64) (boot.Task, error) {
	var t boot.Task
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		t, err = getTask(tx, id)
		return err
	})
	return t, err
}

// Tasks lists a machine's tasks, newest first. An unknown machine is
// ErrNotFound; a machine without tasks gives an empty list.
func (s *Store) Tasks(ctx context.Context, machine string) ([]boot.Task, error) {
	var ts []boot.Task
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if _, err := getMachine(tx, machine); err != nil {
			return err
		}
		prefix := subPrefix(machine)
		c := tx.Bucket(bucketMachineTasks).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			t, err := getTask(tx, int64(binary.BigEndian.Uint64(k[len(prefix):])))
			if err != nil {
				return err
			}
			ts = append(ts, t)
		}
		return nil
	})
	for i, j := 0, len(ts)-1; i < j; i, j = i+1, j-1 {
		ts[i], ts[j] = ts[j], ts[i]
	}
	return ts, err
}

// ActiveTask returns the machine's task in init, todo or doing, or an error
// wrapping ErrNotFound when it has none.
func (s *Store) ActiveTask(ctx context.Context, machine string) (boot.Task, error) {
	var t boot.Task
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		id := tx.Bucket(bucketActive).Get([]byte(machine))
		if id == nil {
			return fmt.Errorf("active task of machine %s: %w", machine, boot.ErrNotFound)
		}
		t, err = getTask(tx, int64(binary.BigEndian.Uint64(id)))
		return err
	})
	return t, err
}

// ActiveTasks returns every task in todo or doing, across machines, in ID
// order. The server's installer watchdog scans it.
func (s *Store) ActiveTasks(ctx context.Context) ([]boot.Task, error) {
	var ts []boot.Task
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketActive).ForEach(func(_, id []byte) error {
			t, err := getTask(tx, int64(binary.BigEndian.Uint64(id)))
			if err != nil {
				return err
			}
			ts = append(ts, t)
			return nil
		})
	})
	sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
	return ts, err
}

// TaskByTokenHash returns the task whose TokenHash is hash, whatever its
// status: callers check that it is still active.
func (s *Store) TaskByTokenHash(ctx context.Context, hash string) (boot.Task, error) {
	var t boot.Task
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		id := tx.Bucket(bucketTokens).Get([]byte(hash))
		if hash == "" || id == nil {
			return fmt.Errorf("task by token: %w", boot.ErrNotFound)
		}
		t, err = getTask(tx, int64(binary.BigEndian.Uint64(id)))
		return err
	})
	return t, err
}

// UpdateTask reads the task, lets fn change it and writes it back in one
// transaction, keeping the active-task and token indexes right. fn may not
// change the ID or the machine, and a status change must be one
// boot.Status.CanTransition allows (ErrConflict otherwise). An error from
// fn aborts the update and is returned as is.
func (s *Store) UpdateTask(ctx context.Context, id int64, fn func(*boot.Task) error) (boot.Task, error) {
	var out boot.Task
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getTask(tx, id)
		if err != nil {
			return err
		}
		t := old
		t.Steps = append([]boot.Step(nil), old.Steps...)
		if err := fn(&t); err != nil {
			return err
		}
		if t.ID != old.ID || t.Machine != old.Machine {
			return fmt.Errorf("update task %d: the ID and machine of a task cannot change", id)
		}
		if t.Status != old.Status && !old.Status.CanTransition(t.Status) {
			return fmt.Errorf("update task %d: cannot go from %s to %s: %w", id, old.Status, t.Status, boot.ErrConflict)
		}
		key := u64key(uint64(id))
		if old.Status.Active() && !t.Status.Active() {
			if err := tx.Bucket(bucketActive).Delete([]byte(t.Machine)); err != nil {
				return err
			}
		}
		if err := indexToken(tx, old.TokenHash, t.TokenHash, key); err != nil {
			return fmt.Errorf("update task %d: %w", id, err)
		}
		out = t
		return putJSON(tx.Bucket(bucketTasks), key, t)
	})
	return out, err
}

// TaskStatusCounts counts the stored tasks by status, for metrics.
func (s *Store) TaskStatusCounts(ctx context.Context) (map[boot.Status]int, error) {
	counts := map[boot.Status]int{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			var t struct {
				Status boot.Status `json:"status"`
			}
			if err := jsonUnmarshal(v, &t); err != nil {
				return fmt.Errorf("task %d: %w", binary.BigEndian.Uint64(k), err)
			}
			counts[t.Status]++
			return nil
		})
	})
	return counts, err
}
