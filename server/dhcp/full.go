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

// replyFull answers on port 67 in full mode.
func (s *Server) replyFull(ctx context.Context, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	ip, err := s.allocate(ctx, mac, req.RequestedIPAddress())
	if err != nil {
		return nil, err
	}
	s.pool.offers[mac] = offer{ip: ipToU32(ip), until: s.now().Add(offerHold)}
	return s.leaseReply(req, dhcpv4.MessageTypeOffer, ip)
}

func (s *Server) request(ctx context.Context, req *dhcpv4.DHCPv4, mac string) (*dhcpv4.DHCPv4, error) {
	if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(s.cfg.ServerIP) {
		// The client chose another server's offer.
		delete(s.pool.offers, mac)
		return nil, nil
	}
	want := req.RequestedIPAddress().To4()
	if want == nil {
		want = req.ClientIPAddr.To4() // RENEWING or REBINDING
	}
	if want == nil || want.IsUnspecified() {
		return nil, nil // no address asked for: malformed, stay quiet
	}
	ok, err := s.acceptable(ctx, mac, want)
	if err != nil {
		return nil, err
	}
	if !ok {
		nak, err := s.newReply(req, dhcpv4.MessageTypeNak)
		if err != nil {
			return nil, err
		}
		nak.UpdateOption(dhcpv4.OptMessage(fmt.Sprintf("address %s is not available to %s", want, mac)))
		return nak, nil
	}
	if err := s.commit(ctx, mac, want, req.HostName()); err != nil {
		return nil, err
	}
	return s.leaseReply(req, dhcpv4.MessageTypeAck, want)
}

func (s *Server) release(ctx context.Context, req *dhcpv4.DHCPv4, mac string) error {
	l, ok := s.pool.byMAC[mac]
	if !ok || !net.ParseIP(l.IP).Equal(req.ClientIPAddr) {
		return nil
	}
	// As in commit: the table first, the store without the lock (and the
	// lease back in the table if the store fails).
	s.pool.remove(mac)
	s.mu.Unlock()
	err := s.store.DeleteLease(ctx, mac)
	s.mu.Lock()
	if err != nil && !errors.Is(err, boot.ErrNotFound) {
		if _, taken := s.pool.owner[ipToU32(net.ParseIP(l.IP))]; !taken {
			s.pool.set(l, ipToU32(net.ParseIP(l.IP)))
		}
		return fmt.Errorf("release lease of %s: %w", mac, err)
	}
	s.wakeParked()
	return nil
}

func (s *Server) decline(ctx context.Context, req *dhcpv4.DHCPv4, mac string) error {
	ip := req.RequestedIPAddress().To4()
	if ip == nil {
		return nil
	}
	s.log.Warn("dhcp: client declined address, another host uses it", "mac", mac, "ip", ip)
	s.pool.declined[ipToU32(ip)] = s.now().Add(s.cfg.LeaseTime)
	delete(s.pool.offers, mac)
	if l, ok := s.pool.byMAC[mac]; ok && net.ParseIP(l.IP).Equal(ip) {
		if err := s.store.DeleteLease(ctx, mac); err != nil && !errors.Is(err, boot.ErrNotFound) {
			return fmt.Errorf("drop declined lease of %s: %w", mac, err)
		}
		s.pool.remove(mac)
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
