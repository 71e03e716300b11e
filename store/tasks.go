package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"
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
		if err := indexToken(tx, "", t.TokenHash, key, t.Status.Active()); err != nil {
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

// indexToken moves the token index entry of task key from old to hash and
// records whether the task is active. An entry is the task's 8-byte key
// and one byte, 1 while the task is active (schema 3), so that an agent's
// token is checked without decoding its task.
func indexToken(tx *bolt.Tx, old, hash string, key []byte, active bool) error {
	tokens := tx.Bucket(bucketTokens)
	if old != "" && old != hash {
		if err := tokens.Delete([]byte(old)); err != nil {
			return err
		}
	}
	if hash == "" {
		return nil
	}
	val := append(append(make([]byte, 0, 9), key...), 0)
	if active {
		val[8] = 1
	}
	owner := tokens.Get([]byte(hash))
	if owner != nil && !bytes.Equal(owner[:min(len(owner), 8)], key) {
		return fmt.Errorf("token hash already used by task %d: %w", binary.BigEndian.Uint64(owner), boot.ErrConflict)
	}
	if bytes.Equal(owner, val) {
		return nil
	}
	return tokens.Put([]byte(hash), val)
}

// tokenEntry decodes a token index entry: the task ID and whether it is
// active.
func tokenEntry(v []byte) (int64, bool, error) {
	if len(v) != 9 {
		return 0, false, fmt.Errorf("token index entry of %d bytes, want 9", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), v[8] == 1, nil
}

func getTask(tx *bolt.Tx, id int64) (boot.Task, error) {
	if id <= 0 {
		return boot.Task{}, fmt.Errorf("task %d: %w", id, boot.ErrNotFound)
	}
	return getRecord[boot.Task](tx.Bucket(bucketTasks), u64key(uint64(id)), fmt.Sprintf("task %d", id))
}

// Task returns the task with the given ID.
func (s *Store) Task(ctx context.Context, id int64) (boot.Task, error) {
	return read(s, ctx, func(tx *bolt.Tx) (boot.Task, error) { return getTask(tx, id) })
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
	slices.Reverse(ts)
	return ts, err
}

// ActiveTask returns the machine's task in init, todo or doing, or an error
// wrapping ErrNotFound when it has none.
func (s *Store) ActiveTask(ctx context.Context, machine string) (boot.Task, error) {
	return read(s, ctx, func(tx *bolt.Tx) (boot.Task, error) {
		id := tx.Bucket(bucketActive).Get([]byte(machine))
		if id == nil {
			return boot.Task{}, fmt.Errorf("active task of machine %s: %w", boot.Clip(machine), boot.ErrNotFound)
		}
		return getTask(tx, int64(binary.BigEndian.Uint64(id)))
	})
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
	return read(s, ctx, func(tx *bolt.Tx) (boot.Task, error) {
		id, _, err := taskOfToken(tx, hash)
		if err != nil {
			return boot.Task{}, err
		}
		return getTask(tx, id)
	})
}

// TokenTask answers from the token index alone which task holds the token
// hash and whether that task is active: the check of every installer
// request, without decoding the task. An unknown hash is ErrNotFound.
func (s *Store) TokenTask(ctx context.Context, hash string) (id int64, active bool, err error) {
	err = s.view(ctx, func(tx *bolt.Tx) error {
		id, active, err = taskOfToken(tx, hash)
		return err
	})
	return id, active, err
}

func taskOfToken(tx *bolt.Tx, hash string) (int64, bool, error) {
	v := tx.Bucket(bucketTokens).Get([]byte(hash))
	if hash == "" || v == nil {
		return 0, false, fmt.Errorf("task by token: %w", boot.ErrNotFound)
	}
	id, active, err := tokenEntry(v)
	if err != nil {
		return 0, false, fmt.Errorf("task by token: %w", err)
	}
	return id, active, nil
}

// migrateTokens rewrites the token index of a schema 2 file (the task's
// key alone) with each task's active flag.
func migrateTokens(tx *bolt.Tx) error {
	type entry struct {
		hash []byte
		key  []byte
	}
	var old []entry
	err := tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
		if len(v) == 8 {
			old = append(old, entry{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range old {
		t, err := getTask(tx, int64(binary.BigEndian.Uint64(e.key)))
		if errors.Is(err, boot.ErrNotFound) {
			if err := tx.Bucket(bucketTokens).Delete(e.hash); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokens).Delete(e.hash); err != nil {
			return err
		}
		if err := indexToken(tx, "", string(e.hash), e.key, t.Status.Active()); err != nil {
			return err
		}
	}
	return nil
}

// UpdateTask reads the task, lets fn change it and writes it back in one
// transaction, keeping the active-task and token indexes right. fn may not
// change the ID or the machine, and a status change must be one
// boot.Status.CanTransition allows (ErrConflict otherwise). An error from
// fn aborts the update and is returned as is.
func (s *Store) UpdateTask(ctx context.Context, id int64, fn func(*boot.Task) error) (boot.Task, error) {
	t, _, err := s.UpdateTaskMachine(ctx, id, func(t *boot.Task, _ *boot.Machine) error { return fn(t) })
	return t, err
}

// UpdateTaskMachine is UpdateTask with the task's machine in the same
// transaction: fn may change both (a task that starts takes its machine out
// of local boot; one that ends well puts it back), and both are written, or
// neither. The machine is validated as UpdateMachine does and may not be
// renamed or lose or gain MACs here.
func (s *Store) UpdateTaskMachine(ctx context.Context, id int64, fn func(*boot.Task, *boot.Machine) error) (boot.Task, boot.Machine, error) {
	var outT boot.Task
	var outM boot.Machine
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getTask(tx, id)
		if err != nil {
			return err
		}
		oldM, err := getMachine(tx, old.Machine)
		if err != nil {
			return fmt.Errorf("update task %d: %w", id, err)
		}
		t, m := old, oldM
		t.Steps = append([]boot.Step(nil), old.Steps...)
		m.MACs = append([]string(nil), oldM.MACs...)
		if err := fn(&t, &m); err != nil {
			return err
		}
		if t.ID != old.ID || t.Machine != old.Machine {
			return fmt.Errorf("update task %d: the ID and machine of a task cannot change", id)
		}
		if t.Status != old.Status && !old.Status.CanTransition(t.Status) {
			return fmt.Errorf("update task %d: cannot go from %s to %s: %w", id, old.Status, t.Status, boot.ErrConflict)
		}
		if err := putTaskMachine(tx, old, t, oldM, m); err != nil {
			return fmt.Errorf("update task %d: %w", id, err)
		}
		outT, outM = t, m
		return nil
	})
	return outT, outM, err
}

// putTaskMachine writes a changed task and its (possibly changed) machine.
func putTaskMachine(tx *bolt.Tx, old, t boot.Task, oldM, m boot.Machine) error {
	key := u64key(uint64(t.ID))
	if old.Status.Active() && !t.Status.Active() {
		if err := tx.Bucket(bucketActive).Delete([]byte(t.Machine)); err != nil {
			return err
		}
	}
	if err := indexToken(tx, old.TokenHash, t.TokenHash, key, t.Status.Active()); err != nil {
		return err
	}
	if err := putJSON(tx.Bucket(bucketTasks), key, t); err != nil {
		return err
	}
	if reflect.DeepEqual(oldM, m) {
		return nil
	}
	if m.Name != oldM.Name || !slices.Equal(m.MACs, oldM.MACs) || m.Discovered != oldM.Discovered {
		return fmt.Errorf("machine %s: its name, MACs and discovered flag cannot change with a task", oldM.Name)
	}
	if err := m.Validate(); err != nil {
		return err
	}
	if err := indexRescue(tx, &oldM, &m); err != nil {
		return err
	}
	return putJSON(tx.Bucket(bucketMachines), []byte(m.Name), m)
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

// RecentTasks returns up to limit tasks across all machines, newest first,
// that keep returns true for (nil keeps all). limit <= 0 means no limit.
func (s *Store) RecentTasks(ctx context.Context, limit int, keep func(boot.Task) bool) ([]boot.Task, error) {
	return read(s, ctx, func(tx *bolt.Tx) ([]boot.Task, error) {
		var ts []boot.Task
		c := tx.Bucket(bucketTasks).Cursor()
		for k, raw := c.Last(); k != nil && (limit <= 0 || len(ts) < limit); k, raw = c.Prev() {
			var t boot.Task
			if err := jsonUnmarshal(raw, &t); err != nil {
				return nil, fmt.Errorf("task %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if keep == nil || keep(t) {
				ts = append(ts, t)
			}
		}
		return ts, nil
	})
}
