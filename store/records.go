package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// AppendEvent adds an entry to the append-only history and returns it with
// its Seq, which increases with every event of the store. An event naming a
// machine is listed by Events for that machine.
func (s *Store) AppendEvent(ctx context.Context, e boot.Event) (boot.Event, error) {
	if e.Machine != "" {
		if err := boot.ValidateName(e.Machine); err != nil {
			return boot.Event{}, fmt.Errorf("append event: %w", err)
		}
	}
	var pruned int
	err := s.update(ctx, func(tx *bolt.Tx) error {
		pruned = 0
		events := tx.Bucket(bucketEvents)
		seq, err := events.NextSequence()
		if err != nil {
			return err
		}
		e.Seq = seq
		if err := putJSON(events, u64key(seq), e); err != nil {
			return err
		}
		if e.Machine == "" {
			return nil
		}
		if err := tx.Bucket(bucketMachineEvts).Put(subKey(e.Machine, seq), nil); err != nil {
			return err
		}
		n, err := countEvents(tx, e.Machine, 1)
		if err != nil {
			return err
		}
		pruned, err = pruneEvents(tx, e.Machine, n, s.opts.MaxEvents)
		return err
	})
	if err != nil {
		return boot.Event{}, err
	}
	s.pruned.Add(uint64(pruned))
	return e, nil
}

// Events returns the machine's last limit events (all when limit <= 0),
// oldest first and newest last.
func (s *Store) Events(ctx context.Context, machine string, limit int) ([]boot.Event, error) {
	var es []boot.Event
	err := s.view(ctx, func(tx *bolt.Tx) error {
		prefix := subPrefix(machine)
		end := append([]byte(machine), 1) // sorts just after every "machine \x00 seq"
		events := tx.Bucket(bucketEvents)
		c := tx.Bucket(bucketMachineEvts).Cursor()
		k, _ := c.Seek(end)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if limit > 0 && len(es) == limit {
				break
			}
			var e boot.Event
			if _, err := getJSON(events, k[len(prefix):], &e); err != nil {
				return err
			}
			es = append(es, e)
		}
		return nil
	})
	slices.Reverse(es)
	return es, err
}

// Leases returns every persisted DHCP lease, sorted by MAC.
func (s *Store) Leases(ctx context.Context) ([]boot.Lease, error) {
	return list[boot.Lease](s, ctx, bucketLeases, "lease")
}

// PutLease creates or replaces the lease of l.MAC (normalised).
func (s *Store) PutLease(ctx context.Context, l boot.Lease) error {
	mac, err := boot.NormalizeMAC(l.MAC)
	if err != nil {
		return fmt.Errorf("put lease: %w", err)
	}
	l.MAC = mac
	return s.update(ctx, func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketLeases), []byte(mac), l)
	})
}

// DeleteLease removes the lease of mac; a missing lease is ErrNotFound.
func (s *Store) DeleteLease(ctx context.Context, mac string) error {
	norm, err := boot.NormalizeMAC(mac)
	if err != nil {
		return fmt.Errorf("delete lease: %v: %w", err, boot.ErrNotFound)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		if b.Get([]byte(norm)) == nil {
			return fmt.Errorf("lease of %s: %w", norm, boot.ErrNotFound)
		}
		return b.Delete([]byte(norm))
	})
}

// PutCredential creates or replaces the credential c.ID.
func (s *Store) PutCredential(ctx context.Context, c boot.Credential) error {
	if c.ID == "" {
		return fmt.Errorf("put credential: empty ID")
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketCredentials), []byte(c.ID), c)
	})
}

func getCredential(tx *bolt.Tx, id string) (boot.Credential, error) {
	if id == "" {
		return boot.Credential{}, fmt.Errorf("credential with empty ID: %w", boot.ErrNotFound)
	}
	return getRecord[boot.Credential](tx.Bucket(bucketCredentials), []byte(id), "credential "+id)
}

// Credential returns the credential with the given ID.
func (s *Store) Credential(ctx context.Context, id string) (boot.Credential, error) {
	return read(s, ctx, func(tx *bolt.Tx) (boot.Credential, error) { return getCredential(tx, id) })
}

// Credentials lists every credential, oldest first (then by ID).
func (s *Store) Credentials(ctx context.Context) ([]boot.Credential, error) {
	cs, err := list[boot.Credential](s, ctx, bucketCredentials, "credential")
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Created.Before(cs[j].Created) })
	return cs, err
}

// DeleteCredential removes a credential; a missing one is ErrNotFound.
func (s *Store) DeleteCredential(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getCredential(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bucketCredentials).Delete([]byte(id))
	})
}

// TouchCredential records that a credential was just used.
func (s *Store) TouchCredential(ctx context.Context, id string, now time.Time) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		c, err := getCredential(tx, id)
		if err != nil {
			return err
		}
		c.LastUsed = now
		return putJSON(tx.Bucket(bucketCredentials), []byte(id), c)
	})
}
