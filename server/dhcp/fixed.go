package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/byoi/byoi/boot"
)

// DefaultFixedRefresh is Config.FixedRefresh's default.
const DefaultFixedRefresh = 2 * time.Second

// machineLister is optional: a store that lists machines gets the index of
// fixed addresses (fixedIndex); without it, the server asks MachineByMAC
// for each client's own fixed address and knows no one else's.
type machineLister interface {
	Machines(ctx context.Context) ([]boot.Machine, error)
}

// fixedIndex maps registered machines' MACs to their names and fixed
// addresses, built from one listing of the store's machines.
type fixedIndex struct {
	machine map[string]string // MAC -> machine name
	ip      map[string]uint32 // MAC -> fixed address, for machines that have one
	addrs   map[uint32]bool   // every fixed address
	built   time.Time
}

// newFixedIndex indexes ms. A machine whose fixed address does not parse
// is logged and left without one (the store validates it on the way in).
func newFixedIndex(ms []boot.Machine, built time.Time, warn func(boot.Machine)) *fixedIndex {
	x := &fixedIndex{machine: map[string]string{}, ip: map[string]uint32{}, addrs: map[uint32]bool{}, built: built}
	for _, m := range ms {
		var ip uint32
		if m.IPv4 != "" {
			if a := net.ParseIP(m.IPv4).To4(); a != nil {
				ip = ipToU32(a)
				x.addrs[ip] = true
			} else {
				warn(m)
			}
		}
		for _, raw := range m.MACs {
			mac, err := boot.NormalizeMAC(raw)
			if err != nil {
				continue
			}
			x.machine[mac] = m.Name
			if ip != 0 {
				x.ip[mac] = ip
			}
		}
	}
	return x
}

// MachinesChanged tells the server that machines were added, changed or
// removed: the next packet rebuilds the index of fixed addresses instead
// of waiting for Config.FixedRefresh to pass.
func (s *Server) MachinesChanged() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fixedStale = true
}

// freshLocked reports whether the index can be used as is. Callers hold s.mu.
func (s *Server) freshLocked() bool {
	return s.fixed != nil && !s.fixedStale && s.now().Sub(s.fixed.built) < s.cfg.FixedRefresh
}

// refreshFixed rebuilds the index when it is older than FixedRefresh or
// marked stale. The store is read without s.mu held; concurrent packets
// wait for one rebuild instead of each listing the machines.
func (s *Server) refreshFixed(ctx context.Context, lister machineLister) error {
	s.mu.Lock()
	fresh := s.freshLocked()
	s.mu.Unlock()
	if fresh {
		return nil
	}
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.mu.Lock()
	fresh = s.freshLocked()
	s.fixedStale = false // changes from now on mark it again
	started := s.now()
	s.mu.Unlock()
	if fresh {
		return nil
	}
	ms, err := lister.Machines(ctx)
	if err != nil {
		s.MachinesChanged()
		return fmt.Errorf("list machines for fixed addresses: %w", err)
	}
	x := newFixedIndex(ms, started, func(m boot.Machine) {
		s.log.Warn("dhcp: machine has an invalid fixed address, ignored", "machine", m.Name, "ipv4", m.IPv4)
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fixed = x
	if s.pool != nil { // full mode
		s.pool.setFixed(x.addrs)
	}
	return nil
}

// fixedFor returns mac's fixed address, 0 for none. An unknown MAC is not
// an error; a failing store is.
func (s *Server) fixedFor(ctx context.Context, mac string) (uint32, error) {
	if lister, ok := s.store.(machineLister); ok {
		if err := s.refreshFixed(ctx, lister); err != nil {
			return 0, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.fixed.ip[mac], nil
	}
	m, err := s.store.MachineByMAC(ctx, mac)
	if errors.Is(err, boot.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("look up machine %s: %w", mac, err)
	}
	if m.IPv4 == "" {
		return 0, nil
	}
	ip := net.ParseIP(m.IPv4).To4()
	if ip == nil {
		return 0, fmt.Errorf("machine %s has invalid fixed address %q", m.Name, m.IPv4)
	}
	return ipToU32(ip), nil
}

// machineName returns the name of the machine that owns mac, "" for an
// unknown MAC, from the index when the store lists machines.
func (s *Server) machineName(ctx context.Context, mac string) (string, error) {
	if lister, ok := s.store.(machineLister); ok {
		if err := s.refreshFixed(ctx, lister); err != nil {
			return "", err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.fixed.machine[mac], nil
	}
	m, err := s.store.MachineByMAC(ctx, mac)
	if errors.Is(err, boot.ErrNotFound) {
		return "", nil
	}
	return m.Name, err
}
