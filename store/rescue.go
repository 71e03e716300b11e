package store

import (
	"context"
	"fmt"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// rescueToken is the hash of a machine's current rescue token, or "".
func rescueToken(m *boot.Machine) string {
	if m == nil || m.Rescue == nil {
		return ""
	}
	return m.Rescue.TokenHash
}

// indexRescue moves the rescue token index entry from what old was to
// what m is (either may be nil), in the machine's write transaction.
func indexRescue(tx *bolt.Tx, old, m *boot.Machine) error {
	b := tx.Bucket(bucketRescue)
	was, now := rescueToken(old), rescueToken(m)
	if was != "" && (was != now || old.Name != m.Name) {
		if err := b.Delete([]byte(was)); err != nil {
			return err
		}
	}
	if now == "" {
		return nil
	}
	if owner := b.Get([]byte(now)); owner != nil && string(owner) != m.Name && (old == nil || string(owner) != old.Name) {
		return fmt.Errorf("rescue token already used by machine %s: %w", owner, boot.ErrConflict)
	}
	return b.Put([]byte(now), []byte(m.Name))
}

// MachineByRescueToken returns the machine whose current rescue token
// hashes to hash.
func (s *Store) MachineByRescueToken(ctx context.Context, hash string) (boot.Machine, error) {
	return read(s, ctx, func(tx *bolt.Tx) (boot.Machine, error) {
		name := tx.Bucket(bucketRescue).Get([]byte(hash))
		if hash == "" || name == nil {
			return boot.Machine{}, fmt.Errorf("machine by rescue token: %w", boot.ErrNotFound)
		}
		return getMachine(tx, string(name))
	})
}
