package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// DiscoveredPrefix starts the name of every machine recorded from an
// unknown MAC: "discovered-" and the MAC's twelve hex digits.
const DiscoveredPrefix = "discovered-"

// DiscoveredName returns the name a discovered machine gets for a
// normalised MAC ("52:54:00:12:34:56" → "discovered-525400123456").
func DiscoveredName(mac string) string {
	return DiscoveredPrefix + strings.ReplaceAll(mac, ":", "")
}

// CreateMachine validates and stores a new machine. A name or MAC that is
// already taken is an ErrConflict.
func (s *Store) CreateMachine(ctx context.Context, m boot.Machine) (boot.Machine, error) {
	m.MACs = append([]string(nil), m.MACs...) // Validate normalises in place
	if err := m.Validate(); err != nil {
		return boot.Machine{}, fmt.Errorf("create machine: %w", err)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error { return createMachine(tx, m) })
	if err != nil {
		return boot.Machine{}, err
	}
	return m, nil
}

func createMachine(tx *bolt.Tx, m boot.Machine) error {
	machines := tx.Bucket(bucketMachines)
	if machines.Get([]byte(m.Name)) != nil {
		return fmt.Errorf("create machine %s: name already taken: %w", m.Name, boot.ErrConflict)
	}
	if err := claimMACs(tx, m.Name, m.MACs); err != nil {
		return fmt.Errorf("create machine %s: %w", m.Name, err)
	}
	if err := indexDiscovered(tx, nil, &m); err != nil {
		return err
	}
	if err := indexRescue(tx, nil, &m); err != nil {
		return err
	}
	return putJSON(machines, []byte(m.Name), m)
}

// claimMACs points each MAC at name, refusing MACs owned by another machine.
func claimMACs(tx *bolt.Tx, name string, macs []string) error {
	idx := tx.Bucket(bucketMACs)
	for _, mac := range macs {
		if owner := idx.Get([]byte(mac)); owner != nil && string(owner) != name {
			return fmt.Errorf("MAC %s belongs to machine %s: %w", mac, owner, boot.ErrConflict)
		}
		if err := idx.Put([]byte(mac), []byte(name)); err != nil {
			return err
		}
	}
	return nil
}

func releaseMACs(tx *bolt.Tx, name string, macs []string) error {
	idx := tx.Bucket(bucketMACs)
	for _, mac := range macs {
		if owner := idx.Get([]byte(mac)); string(owner) == name {
			if err := idx.Delete([]byte(mac)); err != nil {
				return err
			}
		}
	}
	return nil
}

func getMachine(tx *bolt.Tx, name string) (boot.Machine, error) {
	return getRecord[boot.Machine](tx.Bucket(bucketMachines), []byte(name), "machine "+boot.Clip(name))
}

// Machine returns the machine called name.
func (s *Store) Machine(ctx context.Context, name string) (boot.Machine, error) {
	return read(s, ctx, func(tx *bolt.Tx) (boot.Machine, error) { return getMachine(tx, name) })
}

// MachineByMAC returns the machine owning mac (any form boot.NormalizeMAC
// accepts). An invalid MAC owns no machine: the error wraps ErrNotFound.
func (s *Store) MachineByMAC(ctx context.Context, mac string) (boot.Machine, error) {
	norm, err := boot.NormalizeMAC(mac)
	if err != nil {
		return boot.Machine{}, fmt.Errorf("machine by MAC: %v: %w", err, boot.ErrNotFound)
	}
	return read(s, ctx, func(tx *bolt.Tx) (boot.Machine, error) {
		name := tx.Bucket(bucketMACs).Get([]byte(norm))
		if name == nil {
			return boot.Machine{}, fmt.Errorf("machine with MAC %s: %w", norm, boot.ErrNotFound)
		}
		return getMachine(tx, string(name))
	})
}

// Machines lists every machine, discovered ones included, sorted by name.
func (s *Store) Machines(ctx context.Context) ([]boot.Machine, error) {
	return list[boot.Machine](s, ctx, bucketMachines, "machine")
}

// UpdateMachine reads the machine, lets fn change it, validates and writes
// it back, all in one transaction. fn may rename the machine (adopting a
// discovered one) unless it has an active task; its tasks and events follow.
// An error from fn aborts the update and is returned as is.
func (s *Store) UpdateMachine(ctx context.Context, name string, fn func(*boot.Machine) error) (boot.Machine, error) {
	var out boot.Machine
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getMachine(tx, name)
		if err != nil {
			return err
		}
		m := old
		m.MACs = append([]string(nil), old.MACs...)
		if err := fn(&m); err != nil {
			return err
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("update machine %s: %w", boot.Clip(name), err)
		}
		if err := releaseMACs(tx, name, old.MACs); err != nil {
			return err
		}
		if m.Name != name {
			if err := renameMachine(tx, name, m.Name); err != nil {
				return fmt.Errorf("rename machine %s to %s: %w", boot.Clip(name), boot.Clip(m.Name), err)
			}
		}
		if err := claimMACs(tx, m.Name, m.MACs); err != nil {
			return fmt.Errorf("update machine %s: %w", boot.Clip(name), err)
		}
		if err := indexDiscovered(tx, &old, &m); err != nil {
			return err
		}
		if err := indexRescue(tx, &old, &m); err != nil {
			return err
		}
		out = m
		return putJSON(tx.Bucket(bucketMachines), []byte(m.Name), m)
	})
	return out, err
}

// DeleteMachine removes a machine with its tasks (logs included) and events. It refuses
// (ErrConflict) while the machine has an active task.
func (s *Store) DeleteMachine(ctx context.Context, name string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		m, err := getMachine(tx, name)
		if err != nil {
			return err
		}
		if tx.Bucket(bucketActive).Get([]byte(name)) != nil {
			return fmt.Errorf("delete machine %s: an installation task is active: %w", boot.Clip(name), boot.ErrConflict)
		}
		return deleteMachine(tx, m)
	})
}

// deleteMachine deletes m with its tasks (and their logs), events and
// index entries.
func deleteMachine(tx *bolt.Tx, m boot.Machine) error {
	name := m.Name
	if err := releaseMACs(tx, name, m.MACs); err != nil {
		return err
	}
	if err := indexDiscovered(tx, &m, nil); err != nil {
		return err
	}
	if t := rescueToken(&m); t != "" {
		if err := tx.Bucket(bucketRescue).Delete([]byte(t)); err != nil {
			return err
		}
	}
	if err := deleteIndexed(tx, bucketMachineTasks, bucketTasks, name, func(raw []byte) error {
		var t boot.Task
		if err := jsonUnmarshal(raw, &t); err != nil {
			return err
		}
		if err := deleteTaskLog(tx, t.ID); err != nil {
			return err
		}
		if t.TokenHash != "" {
			return tx.Bucket(bucketTokens).Delete([]byte(t.TokenHash))
		}
		return nil
	}); err != nil {
		return err
	}
	if err := deleteIndexed(tx, bucketMachineEvts, bucketEvents, name, nil); err != nil {
		return err
	}
	if err := tx.Bucket(bucketEventCounts).Delete([]byte(name)); err != nil {
		return err
	}
	return tx.Bucket(bucketMachines).Delete([]byte(name))
}
