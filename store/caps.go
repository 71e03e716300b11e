package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// Bounds on what machines nobody registered can make the store hold: a
// flood of unknown MACs on the boot network (each PXE boot records a
// discovered machine and an event) must not grow the file without limit.
// Discovered machines beyond Options.MaxDiscovered are deleted oldest first
// (adopted ones are never touched), and every machine keeps its last
// Options.MaxEvents events. Both indexes are kept in the transaction that
// changes the records they count.

// Dropped counts what the caps deleted since Open, for metrics.
type Dropped struct {
	DiscoveredMachines uint64 // discovered machines deleted, oldest first
	Events             uint64 // events deleted from the front of a history
	LogLines           uint64 // task log lines deleted from the front of a log
}

// Dropped returns what the caps deleted since the store was opened.
func (s *Store) Dropped() Dropped {
	return Dropped{DiscoveredMachines: s.evicted.Load(), Events: s.pruned.Load(), LogLines: s.logDropped.Load()}
}

// discoveredKey orders discovered machines by creation time, then name.
func discoveredKey(m boot.Machine) []byte {
	k := u64key(uint64(m.Created.UnixNano()))
	return append(k, m.Name...)
}

var keyDiscoveredCount = []byte("discovered_count")

// discoveredCount is the number of entries of the discovered index.
func discoveredCount(tx *bolt.Tx) int64 {
	if v := tx.Bucket(bucketMeta).Get(keyDiscoveredCount); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// indexDiscovered moves a machine's entry in the discovered index from
// what old was to what m is (either may be nil), keeping the count.
func indexDiscovered(tx *bolt.Tx, old, m *boot.Machine) error {
	b := tx.Bucket(bucketDiscovered)
	n := discoveredCount(tx)
	if old != nil && old.Discovered && b.Get(discoveredKey(*old)) != nil {
		if err := b.Delete(discoveredKey(*old)); err != nil {
			return err
		}
		n--
	}
	if m != nil && m.Discovered && b.Get(discoveredKey(*m)) == nil {
		if err := b.Put(discoveredKey(*m), nil); err != nil {
			return err
		}
		n++
	}
	return tx.Bucket(bucketMeta).Put(keyDiscoveredCount, u64key(uint64(max(n, 0))))
}

// evictDiscovered deletes the oldest discovered machines until fewer than
// limit are left, and returns how many it deleted.
func evictDiscovered(tx *bolt.Tx, limit int) (int, error) {
	b := tx.Bucket(bucketDiscovered)
	evicted := 0
	for discoveredCount(tx) >= int64(limit) {
		k, _ := b.Cursor().First()
		if k == nil {
			break
		}
		k = append([]byte(nil), k...)
		m, err := getMachine(tx, string(k[8:]))
		if err != nil || !m.Discovered || !bytes.Equal(discoveredKey(m), k) {
			// Not an entry of a discovered machine (cannot happen while
			// the index is kept right): drop it and go on.
			if err := b.Delete(k); err != nil {
				return evicted, err
			}
			if err := tx.Bucket(bucketMeta).Put(keyDiscoveredCount, u64key(uint64(max(discoveredCount(tx)-1, 0)))); err != nil {
				return evicted, err
			}
			continue
		}
		if err := deleteMachine(tx, m); err != nil {
			return evicted, err
		}
		evicted++
	}
	return evicted, nil
}

// RecordBoot notes that mac asked what to boot, at now, from a client
// described by client, and returns its machine. A known MAC's machine gets
// LastSeen and LastClient updated. An unknown MAC becomes a discovered
// machine named DiscoveredName(mac) when create is true (created is then
// true), deleting the oldest discovered machines first if the cap is
// reached; with create false it is an error wrapping ErrNotFound and
// nothing is written.
func (s *Store) RecordBoot(ctx context.Context, mac, client string, now time.Time, create bool) (m boot.Machine, created bool, err error) {
	norm, err := boot.NormalizeMAC(mac)
	if err != nil {
		return boot.Machine{}, false, fmt.Errorf("record boot: %w", err)
	}
	if !create {
		// Most boots come from known machines; an unknown MAC must not
		// cost a write transaction (nor, in a batch, make it run again).
		known, err := read(s, ctx, func(tx *bolt.Tx) (bool, error) {
			return tx.Bucket(bucketMACs).Get([]byte(norm)) != nil, nil
		})
		if err != nil {
			return boot.Machine{}, false, err
		}
		if !known {
			return boot.Machine{}, false, fmt.Errorf("machine with MAC %s: %w", norm, boot.ErrNotFound)
		}
	}
	var evicted int
	var gone bool
	err = s.update(ctx, func(tx *bolt.Tx) error {
		evicted, created, gone = 0, false, false
		if name := tx.Bucket(bucketMACs).Get([]byte(norm)); name != nil {
			if m, err = getMachine(tx, string(name)); err != nil {
				return err
			}
			m.LastSeen, m.LastClient = now, client
			return putJSON(tx.Bucket(bucketMachines), name, m)
		}
		if !create {
			gone = true // deleted since the lookup: nothing to write
			return nil
		}
		if evicted, err = evictDiscovered(tx, s.opts.MaxDiscovered); err != nil {
			return err
		}
		m = boot.Machine{
			Name: DiscoveredName(norm), MACs: []string{norm}, Discovered: true,
			LastSeen: now, LastClient: client, Created: now,
		}
		created = true
		return createMachine(tx, m)
	})
	if err != nil {
		return boot.Machine{}, false, err
	}
	if gone {
		return boot.Machine{}, false, fmt.Errorf("machine with MAC %s: %w", norm, boot.ErrNotFound)
	}
	s.evicted.Add(uint64(evicted))
	return m, created, nil
}

// countEvents adds delta to a machine's kept-event count and returns the
// new count.
func countEvents(tx *bolt.Tx, name string, delta int64) (int64, error) {
	b := tx.Bucket(bucketEventCounts)
	var n int64
	if v := b.Get([]byte(name)); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n <= 0 {
		return 0, b.Delete([]byte(name))
	}
	return n, b.Put([]byte(name), u64key(uint64(n)))
}

// pruneEvents deletes a machine's oldest events until it has at most max,
// and returns how many it deleted.
func pruneEvents(tx *bolt.Tx, name string, n int64, limit int) (int, error) {
	pruned := 0
	prefix := subPrefix(name)
	idx, events := tx.Bucket(bucketMachineEvts), tx.Bucket(bucketEvents)
	for ; n > int64(limit); n-- {
		k, _ := idx.Cursor().Seek(prefix)
		if k == nil || !bytes.HasPrefix(k, prefix) {
			break
		}
		k = append([]byte(nil), k...)
		if err := events.Delete(k[len(prefix):]); err != nil {
			return pruned, err
		}
		if err := idx.Delete(k); err != nil {
			return pruned, err
		}
		pruned++
	}
	if pruned > 0 {
		if _, err := countEvents(tx, name, -int64(pruned)); err != nil {
			return pruned, err
		}
	}
	return pruned, nil
}

// migrateCaps builds the discovered index and the event counts of a
// schema 1 file.
func migrateCaps(tx *bolt.Tx) error {
	err := tx.Bucket(bucketMachines).ForEach(func(_, raw []byte) error {
		var m boot.Machine
		if err := jsonUnmarshal(raw, &m); err != nil {
			return err
		}
		return indexDiscovered(tx, nil, &m)
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMachineEvts).ForEach(func(k, _ []byte) error {
		if i := bytes.IndexByte(k, 0); i > 0 {
			_, err := countEvents(tx, string(k[:i]), 1)
			return err
		}
		return nil
	})
}
