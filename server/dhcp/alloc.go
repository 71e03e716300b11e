package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/byoi/byoi/boot"
)

// allocateLocked chooses the address to offer mac and holds it for mac
// for offerHold: its fixed address when it has one, else a pool address.
// Callers hold s.mu.
func (s *Server) allocateLocked(mac string, fixed uint32, requested net.IP) (net.IP, error) {
	ip := fixed
	if ip == 0 {
		var ok bool
		if ip, ok = s.pool.pick(mac, requested, s.now()); !ok {
			return nil, fmt.Errorf("offer to %s: %w", mac, ErrPoolExhausted)
		}
	}
	s.pool.offer(mac, ip, s.now().Add(offerHold))
	return u32ToIP(ip), nil
}

// acceptableLocked reports whether mac may have ip: its fixed address if
// it has one, else a pool address nobody else holds. Callers hold s.mu.
func (s *Server) acceptableLocked(mac string, fixed uint32, ip net.IP) bool {
	u := ipToU32(ip)
	if fixed != 0 {
		return fixed == u
	}
	if !s.pool.inPool(u) {
		return false
	}
	s.pool.expire(s.now())
	return s.pool.usable(u, mac, s.now(), true)
}

// claim is a lease entered in the table before the store has it, with what
// is needed to persist it or take it back.
type claim struct {
	lease     boot.Lease
	ip        uint32
	old       *tableLease // mac's previous lease
	taken     *tableLease // another client's expired lease on the same address
	takenGone bool        // taken was deleted from the store
}

// claimLocked enters mac's lease on ip in the table, taking the address
// over from another client's expired lease. No other client is given the
// address from now on, while the store write is in flight. Callers hold
// s.mu.
func (s *Server) claimLocked(mac string, ip net.IP, hostname string) *claim {
	u := ipToU32(ip)
	c := &claim{ip: u, lease: boot.Lease{MAC: mac, IP: ip.String(), Hostname: hostname, Expires: s.now().Add(s.cfg.LeaseTime).UTC()}}
	if other, ok := s.pool.owner[u]; ok && other != mac {
		l := s.pool.byMAC[other]
		c.taken = &l
		s.pool.remove(other)
	}
	if l, ok := s.pool.byMAC[mac]; ok {
		c.old = &l
	}
	s.pool.set(c.lease, u)
	return c
}

// persist writes a claim to the store, without s.mu: concurrent claims
// share one transaction (and fsync) in the store.
func (s *Server) persist(ctx context.Context, c *claim) error {
	if c.taken != nil {
		err := s.store.DeleteLease(ctx, c.taken.MAC)
		if err != nil && !errors.Is(err, boot.ErrNotFound) {
			return fmt.Errorf("take over %s from expired lease of %s: %w", c.lease.IP, c.taken.MAC, err)
		}
		c.takenGone = true
	}
	if err := s.store.PutLease(ctx, c.lease); err != nil {
		return fmt.Errorf("store lease %s for %s: %w", c.lease.IP, c.lease.MAC, err)
	}
	return nil
}

// undoLocked takes back a claim the store refused, unless the table has
// moved on meanwhile. Callers hold s.mu.
func (s *Server) undoLocked(c *claim) {
	mac := c.lease.MAC
	if cur, ok := s.pool.byMAC[mac]; !ok || cur.Lease != c.lease {
		return
	}
	s.pool.remove(mac)
	if c.old != nil {
		s.restoreLocked(*c.old)
	}
	if c.taken != nil && !c.takenGone {
		s.restoreLocked(*c.taken)
	}
}
