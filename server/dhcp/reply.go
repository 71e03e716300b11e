package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/byoi/byoi/boot"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Reply computes the answer to one request received on port (PortDHCP or
// PortPXE). A nil reply with a nil error means: stay quiet. An error means
// byoi could not decide (the store failed) and should be logged loudly.
func (s *Server) Reply(ctx context.Context, req *dhcpv4.DHCPv4, port int) (*dhcpv4.DHCPv4, error) {
	if s.cfg.Mode == ModeOff || req == nil || req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 {
		return nil, nil
	}
	if s.cfg.KnownOnly {
		known, err := s.known(ctx, req.ClientHWAddr.String())
		if err != nil || !known {
			return nil, err
		}
	}
	if port == PortPXE {
		return s.replyPXE(req)
	}
	if s.cfg.Mode == ModeProxy {
		return s.replyProxy(req)
	}
	return s.replyFull(ctx, req)
}

// newReply starts an answer of type t carrying byoi's server identifier.
func (s *Server) newReply(req *dhcpv4.DHCPv4, t dhcpv4.MessageType) (*dhcpv4.DHCPv4, error) {
	reply, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(t),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.cfg.ServerIP)),
	)
	if err != nil {
		return nil, fmt.Errorf("build dhcp %s: %w", t, err)
	}
	return reply, nil
}

// replyProxy answers on port 67 in proxy mode: an OFFER without an
// address to DISCOVERs from network-boot clients, nothing else. The lab's
// DHCP server hands out the address; the client combines both offers.
func (s *Server) replyProxy(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if req.MessageType() != dhcpv4.MessageTypeDiscover {
		return nil, nil
	}
	a, ok := s.bootFor(req)
	if !ok {
		return nil, nil
	}
	reply, err := s.newReply(req, dhcpv4.MessageTypeOffer)
	if err != nil {
		return nil, err
	}
	reply.YourIPAddr = net.IPv4zero
	s.addBoot(reply, req, a)
	return reply, nil
}

// replyPXE answers the PXE boot-server REQUEST on port 4011 (in either
// mode): an ACK with the boot file, no address, sent back to the client's
// own address.
func (s *Server) replyPXE(req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	switch req.MessageType() {
	case dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform:
	default:
		return nil, nil
	}
	a, ok := s.bootFor(req)
	if !ok {
		return nil, nil
	}
	reply, err := s.newReply(req, dhcpv4.MessageTypeAck)
	if err != nil {
		return nil, err
	}
	reply.ClientIPAddr = req.ClientIPAddr
	reply.YourIPAddr = net.IPv4zero
	s.addBoot(reply, req, a)
	return reply, nil
}

// addNetwork writes the subnet options of a full-mode answer.
func (s *Server) addNetwork(reply *dhcpv4.DHCPv4) {
	reply.UpdateOption(dhcpv4.OptSubnetMask(s.cfg.Netmask))
	if s.cfg.Router != nil {
		reply.UpdateOption(dhcpv4.OptRouter(s.cfg.Router.To4()))
	}
	if len(s.cfg.DNS) > 0 {
		dns := make([]net.IP, len(s.cfg.DNS))
		for i, d := range s.cfg.DNS {
			dns[i] = d.To4()
		}
		reply.UpdateOption(dhcpv4.OptDNS(dns...))
	}
}

// addLease writes the lease-time options: lease, renewal (T1, 1/2) and
// rebinding (T2, 7/8) times.
func (s *Server) addLease(reply *dhcpv4.DHCPv4) {
	lt := s.cfg.LeaseTime
	reply.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lt))
	reply.UpdateOption(dhcpv4.OptRenewTimeValue(lt / 2))
	reply.UpdateOption(dhcpv4.OptRebindingTimeValue(lt * 7 / 8))
}

// known reports whether mac belongs to a registered (not merely
// discovered) machine. A store failure is an error, never "unknown".
func (s *Server) known(ctx context.Context, mac string) (bool, error) {
	m, err := s.store.MachineByMAC(ctx, mac)
	if errors.Is(err, boot.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up machine %s: %w", mac, err)
	}
	return !m.Discovered, nil
}
