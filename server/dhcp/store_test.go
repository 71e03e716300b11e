package dhcp

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/byoi/byoi/boot"
)

// memStore is an in-memory Store (with the optional Machines) for tests.
type memStore struct {
	mu       sync.Mutex
	leases   map[string]boot.Lease
	machines []boot.Machine
	fail     error // returned by every method when set
}

func newMemStore(machines ...boot.Machine) *memStore {
	return &memStore{leases: map[string]boot.Lease{}, machines: machines}
}

func (m *memStore) Leases(ctx context.Context) ([]boot.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	var out []boot.Lease
	for _, l := range m.leases {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out, nil
}

func (m *memStore) PutLease(ctx context.Context, l boot.Lease) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.leases[l.MAC] = l
	return nil
}

func (m *memStore) DeleteLease(ctx context.Context, mac string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if _, ok := m.leases[mac]; !ok {
		return fmt.Errorf("lease %s: %w", mac, boot.ErrNotFound)
	}
	delete(m.leases, mac)
	return nil
}

func (m *memStore) MachineByMAC(ctx context.Context, mac string) (boot.Machine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return boot.Machine{}, m.fail
	}
	for _, mm := range m.machines {
		for _, x := range mm.MACs {
			if x == mac {
				return mm, nil
			}
		}
	}
	return boot.Machine{}, fmt.Errorf("machine with MAC %s: %w", mac, boot.ErrNotFound)
}

func (m *memStore) Machines(ctx context.Context) ([]boot.Machine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	return append([]boot.Machine(nil), m.machines...), nil
}

// leaseIPs is the stored lease table as MAC -> IP.
func (m *memStore) leaseIPs() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for mac, l := range m.leases {
		out[mac] = l.IP
	}
	return out
}

var errBroken = errors.New("disk on fire")
