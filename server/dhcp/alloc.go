package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/byoi/byoi/boot"
)

// fixedIP returns the address registered for mac, or nil. An unknown MAC
// is not an error; a failing store is.
func (s *Server) fixedIP(ctx context.Context, mac string) (net.IP, error) {
	m, err := s.store.MachineByMAC(ctx, mac)
	if errors.Is(err, boot.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up machine %s: %w", mac, err)
	}
	if m.IPv4 == "" {
		return nil, nil
	}
	ip := net.ParseIP(m.IPv4).To4()
	if ip == nil {
		return nil, fmt.Errorf("machine %s has invalid fixed address %q", m.Name, m.IPv4)
	}
	return ip, nil
}

// reserved lists addresses the pool must not hand to mac: the server's,
// the router's, the subnet's network and broadcast addresses, and the
// fixed addresses of other machines (when the store can list them).
func (s *Server) reserved(ctx context.Context, mac string) (map[uint32]bool, error) {
	network := ipToU32(s.cfg.ServerIP.Mask(s.cfg.Netmask))
	r := map[uint32]bool{
		ipToU32(s.cfg.ServerIP): true,
		network:                 true,
		network | ^ipToU32(net.IP(s.cfg.Netmask)): true,
	}
	if s.cfg.Router != nil {
		r[ipToU32(s.cfg.Router)] = true
	}
	lister, ok := s.store.(machineLister)
	if !ok {
		return r, nil
	}
	machines, err := lister.Machines(ctx)
	if err != nil {
		return nil, fmt.Errorf("list machines for fixed addresses: %w", err)
	}
	for _, m := range machines {
		ip := net.ParseIP(m.IPv4).To4()
		if ip == nil || containsMAC(m.MACs, mac) {
			continue
		}
		r[ipToU32(ip)] = true
	}
	return r, nil
}

func containsMAC(macs []string, mac string) bool {
	for _, m := range macs {
		if n, err := boot.NormalizeMAC(m); err == nil && n == mac {
			return true
		}
	}
	return false
}

// allocate chooses the address to offer mac. Callers hold s.mu.
func (s *Server) allocate(ctx context.Context, mac string, requested net.IP) (net.IP, error) {
	fixed, err := s.fixedIP(ctx, mac)
	if err != nil || fixed != nil {
		return fixed, err
	}
	reserved, err := s.reserved(ctx, mac)
	if err != nil {
		return nil, err
	}
	ip, ok := s.pool.pick(mac, requested, s.now(), reserved)
	if !ok {
		return nil, fmt.Errorf("offer to %s: %w", mac, ErrPoolExhausted)
	}
	return u32ToIP(ip), nil
}

// acceptable reports whether mac may have ip: its fixed address if it has
// one, else a pool address nobody else holds. Callers hold s.mu.
func (s *Server) acceptable(ctx context.Context, mac string, ip net.IP) (bool, error) {
	fixed, err := s.fixedIP(ctx, mac)
	if err != nil {
		return false, err
	}
	if fixed != nil {
		return fixed.Equal(ip), nil
	}
	u := ipToU32(ip)
	if !s.pool.inPool(u) {
		return false, nil
	}
	reserved, err := s.reserved(ctx, mac)
	if err != nil {
		return false, err
	}
	return s.pool.usable(u, mac, s.now(), reserved, true), nil
}

// commit persists mac's lease on ip, taking the address over from an
// expired lease of another client. Callers hold s.mu; commit releases it
// while the lease is written.
func (s *Server) commit(ctx context.Context, mac string, ip net.IP, hostname string) error {
	u := ipToU32(ip)
	if other, ok := s.pool.owner[u]; ok && other != mac {
		if err := s.store.DeleteLease(ctx, other); err != nil && !errors.Is(err, boot.ErrNotFound) {
			return fmt.Errorf("take over %s from expired lease of %s: %w", ip, other, err)
		}
		s.pool.remove(other)
	}
	old, hadOld := s.pool.byMAC[mac]
	l := boot.Lease{MAC: mac, IP: ip.String(), Hostname: hostname, Expires: s.now().Add(s.cfg.LeaseTime).UTC()}
	// The table holds the lease before the store does, so that no other
	// client is given the address while the write is in flight; the lock
	// is released for the write so that concurrent commits share one
	// transaction (and fsync) in the store. The ACK goes out only after the
	// write succeeded.
	s.pool.set(l, u)
	s.mu.Unlock()
	err := s.store.PutLease(ctx, l)
	s.mu.Lock()
	if err != nil {
		if cur, ok := s.pool.byMAC[mac]; ok && cur == l {
			s.pool.remove(mac)
			if hadOld {
				s.pool.set(old, ipToU32(net.ParseIP(old.IP)))
			}
		}
		return fmt.Errorf("store lease %s for %s: %w", ip, mac, err)
	}
	return nil
}
