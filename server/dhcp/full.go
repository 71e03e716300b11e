package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// ErrPoolExhausted is returned by Reply when no address is left for a
// client in full mode.
var ErrPoolExhausted = errors.New("dhcp address pool exhausted")

// replyFull answers on port 67 in full mode. Each step takes s.mu
// itself, and only around work on the lease table: store reads and
// writes run without it.
func (s *Server) replyFull(ctx context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if err := s.ensureLoaded(ctx); err != nil {
		return nil, err
	}
	mac := req.ClientHWAddr.String()
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return s.discover(ctx, req, mac)
	case dhcpv4.MessageTypeRequest:
		return s.request(ctx, req, mac)
	case dhcpv4.MessageTypeRelease:
		return nil, s.release(ctx, req, mac)
	case dhcpv4.MessageTypeDecline:
		return nil, s.decline(ctx, req, mac)
	case dhcpv4.MessageTypeInform:
		return s.inform(req)
	default:
		return nil, nil
	}
}

func (s *Server) discover(ctx context.Context, req *dhcpv4.DHCPv4, mac string) (*dhcpv4.DHCPv4, error) {
	fixed, err := s.fixedFor(ctx, mac)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	ip, err := s.allocateLocked(mac, fixed, req.RequestedIPAddress())
	if err == nil {
		s.cancelParkedLocked(mac) // answered now: a parked copy must not take a freed address
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.leaseReply(req, dhcpv4.MessageTypeOffer, ip)
}

func (s *Server) request(ctx context.Context, req *dhcpv4.DHCPv4, mac string) (*dhcpv4.DHCPv4, error) {
	if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(s.cfg.ServerIP) {
		// The client chose another server's offer.
		s.mu.Lock()
		s.pool.dropOffer(mac)
		s.mu.Unlock()
		return nil, nil
	}
	want := req.RequestedIPAddress().To4()
	if want == nil {
		want = req.ClientIPAddr.To4() // RENEWING or REBINDING
	}
	if want == nil || want.IsUnspecified() {
		return nil, nil // no address asked for: malformed, stay quiet
	}
	fixed, err := s.fixedFor(ctx, mac)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	var c *claim
	ok := s.acceptableLocked(mac, fixed, want)
	if ok {
		c = s.claimLocked(mac, want, req.HostName())
	}
	s.mu.Unlock()
	if !ok {
		nak, err := s.newReply(req, dhcpv4.MessageTypeNak)
		if err != nil {
			return nil, err
		}
		nak.UpdateOption(dhcpv4.OptMessage(fmt.Sprintf("address %s is not available to %s", want, mac)))
		return nak, nil
	}
	// The ACK goes out only after the store has the lease.
	if err := s.persist(ctx, c); err != nil {
		s.mu.Lock()
		s.undoLocked(c)
		s.mu.Unlock()
		return nil, err
	}
	return s.leaseReply(req, dhcpv4.MessageTypeAck, want)
}

func (s *Server) release(ctx context.Context, req *dhcpv4.DHCPv4, mac string) error {
	s.mu.Lock()
	l, ok := s.pool.byMAC[mac]
	if !ok || !u32ToIP(l.ip).Equal(req.ClientIPAddr) {
		s.mu.Unlock()
		return nil
	}
	// As for a REQUEST: the table first, the store without the lock, and
	// the lease back in the table if the store fails.
	s.pool.remove(mac)
	s.mu.Unlock()
	err := s.store.DeleteLease(ctx, mac)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !errors.Is(err, boot.ErrNotFound) {
		s.restoreLocked(l)
		return fmt.Errorf("release lease of %s: %w", mac, err)
	}
	s.wakeParkedLocked()
	return nil
}

// restoreLocked puts back a lease whose deletion the store refused, unless
// its address or its client has a new lease meanwhile. Callers hold s.mu.
func (s *Server) restoreLocked(l tableLease) {
	_, taken := s.pool.owner[l.ip]
	_, has := s.pool.byMAC[l.MAC]
	if !taken && !has {
		s.pool.set(l.Lease, l.ip)
	}
}

func (s *Server) decline(ctx context.Context, req *dhcpv4.DHCPv4, mac string) error {
	ip := req.RequestedIPAddress().To4()
	if ip == nil {
		return nil
	}
	s.log.Warn("dhcp: client declined address, another host uses it", "mac", mac, "ip", ip)
	u := ipToU32(ip)
	s.mu.Lock()
	s.pool.decline(u, s.now().Add(s.cfg.LeaseTime))
	s.pool.dropOffer(mac)
	l, leased := s.pool.byMAC[mac]
	leased = leased && l.ip == u
	if leased {
		s.pool.remove(mac)
	}
	s.mu.Unlock()
	if !leased {
		return nil
	}
	if err := s.store.DeleteLease(ctx, mac); err != nil && !errors.Is(err, boot.ErrNotFound) {
		s.mu.Lock()
		s.restoreLocked(l) // still declined: nobody else is offered it
		s.mu.Unlock()
		return fmt.Errorf("drop declined lease of %s: %w", mac, err)
	}
	return nil
}

// inform answers a client that configured its address itself: network
// and boot options, no lease.
func (s *Server) inform(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	reply, err := s.newReply(req, dhcpv4.MessageTypeAck)
	if err != nil {
		return nil, err
	}
	reply.ClientIPAddr = req.ClientIPAddr
	s.addNetwork(reply)
	if a, ok := s.bootFor(req); ok {
		s.addBoot(reply, req, a)
	}
	return reply, nil
}

// leaseReply is an OFFER or ACK of ip with the network, lease and (for
// network-boot clients) boot options.
func (s *Server) leaseReply(req *dhcpv4.DHCPv4, t dhcpv4.MessageType, ip net.IP) (*dhcpv4.DHCPv4, error) {
	reply, err := s.newReply(req, t)
	if err != nil {
		return nil, err
	}
	reply.YourIPAddr = ip
	s.addNetwork(reply)
	s.addLease(reply)
	if a, ok := s.bootFor(req); ok {
		s.addBoot(reply, req, a)
	}
	return reply, nil
}
