package dhcp

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// maxPacket is larger than any DHCP packet a client may send (RFC 2131
// allows 576 bytes unless option 57 raises it; Ethernet caps it at 1500).
const maxPacket = 4096

// maxInFlight bounds the packets handled at once.
const maxInFlight = 64

// Serve answers requests arriving on conn as the DHCP server port (67)
// until ctx ends; a conn bound to port 4011 is served as the PXE boot
// server port. It returns nil when ctx ends and leaves conn open.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	port := PortDHCP
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok && ua.Port == PortPXE {
		port = PortPXE
	}
	return s.serve(ctx, conn, port)
}

// ServePXE answers requests arriving on conn as the PXE boot server port
// (4011), whatever port conn is bound to.
func (s *Server) ServePXE(ctx context.Context, conn net.PacketConn) error {
	return s.serve(ctx, conn, PortPXE)
}

func (s *Server) serve(ctx context.Context, conn net.PacketConn, port int) error {
	_ = conn.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, maxPacket)
	// Packets are handled concurrently (at most maxInFlight at a time) so
	// that lease writes of a storm share store transactions; Server's own
	// lock orders what they do to the lease table.
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		n, peer, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// A deadline set by someone else: clear it, unless ctx ended
				// meanwhile (its deadline may just have been overwritten).
				_ = conn.SetReadDeadline(time.Time{})
				if ctx.Err() != nil {
					return nil
				}
				continue
			}
			return err
		}
		pkt := append([]byte(nil), buf[:n]...)
		sem <- struct{}{}
		wg.Add(1)
		send := func(reply *dhcpv4.DHCPv4, dst net.Addr) {
			if _, err := conn.WriteTo(reply.ToBytes(), dst); err != nil {
				s.log.Error("dhcp: send reply", "mac", reply.ClientHWAddr.String(), "to", dst.String(), "err", err)
			}
		}
		go func() {
			defer func() { <-sem; wg.Done() }()
			reply, dst, waiting := s.answer(ctx, pkt, peer, port)
			if waiting != nil { // parked outside maxInFlight
				wg.Go(func() { s.park(ctx, waiting, peer, port, send) })
				return
			}
			if reply != nil {
				send(reply, dst)
			}
		}()
	}
}

// handle parses one packet, answers it, counts and logs it. It never
// panics on hostile input.
func (s *Server) handle(ctx context.Context, raw []byte, peer net.Addr, port int) (*dhcpv4.DHCPv4, net.Addr) {
	reply, dst, _ := s.answer(ctx, raw, peer, port)
	return reply, dst
}

// answer is handle; it also returns the request when it is a DISCOVER
// that found the address pool exhausted, for Serve to park.
func (s *Server) answer(ctx context.Context, raw []byte, peer net.Addr, port int) (*dhcpv4.DHCPv4, net.Addr, *dhcpv4.DHCPv4) {
	req, err := dhcpv4.FromBytes(raw)
	if err == nil {
		err = checkOptions(req)
	}
	if err != nil || req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 {
		s.count("malformed", "dropped")
		s.log.Debug("dhcp: dropped malformed packet", "from", addrString(peer), "bytes", len(raw), "err", err)
		return nil, nil, nil
	}
	typ := msgLabel(req.MessageType())
	mac := req.ClientHWAddr.String()
	client, _ := classify(req)
	reply, err := s.Reply(ctx, req, port)
	switch {
	case errors.Is(err, ErrPoolExhausted):
		s.count(typ, "exhausted")
		s.log.Warn("dhcp: no address left", "mac", mac, "type", typ, "err", err)
		if req.MessageType() == dhcpv4.MessageTypeDiscover {
			return nil, nil, req
		}
		return nil, nil, nil
	case err != nil:
		s.count(typ, "error")
		s.log.Error("dhcp: cannot answer", "mac", mac, "type", typ, "client", describe(client), "err", err)
		return nil, nil, nil
	case reply == nil:
		s.count(typ, "ignored")
		s.log.Debug("dhcp: not answering", "mac", mac, "type", typ, "port", port, "client", describe(client))
		return nil, nil, nil
	}
	return reply, s.answered(ctx, req, reply, peer, port), nil
}

// answered counts, logs and records a reply to req and returns where it goes.
func (s *Server) answered(ctx context.Context, req, reply *dhcpv4.DHCPv4, peer net.Addr, port int) net.Addr {
	typ := msgLabel(req.MessageType())
	mac := req.ClientHWAddr.String()
	client, _ := classify(req)
	answer := msgLabel(reply.MessageType())
	s.count(typ, answer)
	s.log.Info("dhcp: answered", "mac", mac, "type", typ, "port", port, "client", describe(client),
		"answer", answer, "ip", reply.YourIPAddr.String(), "file", reply.BootFileName)
	s.recordBoot(ctx, req, reply, client, port)
	return destination(req, reply, peer, port)
}

// destination picks where a reply goes (RFC 2131 §4.1): back to the PXE
// client's port 4011 socket, to a relay, to a configured client, to the
// sender when it used a port other than 68 (tests, tools), else broadcast.
func destination(req, reply *dhcpv4.DHCPv4, peer net.Addr, port int) net.Addr {
	up, _ := peer.(*net.UDPAddr)
	if port == PortPXE && up != nil {
		return up
	}
	if g := req.GatewayIPAddr.To4(); g != nil && !g.IsUnspecified() {
		return &net.UDPAddr{IP: g, Port: dhcpv4.ServerPort}
	}
	if reply.MessageType() != dhcpv4.MessageTypeNak {
		if c := req.ClientIPAddr.To4(); c != nil && !c.IsUnspecified() {
			return &net.UDPAddr{IP: c, Port: dhcpv4.ClientPort}
		}
	}
	if up != nil && up.Port != dhcpv4.ClientPort && up.IP != nil && !up.IP.IsUnspecified() {
		return up
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}

// msgLabel names a message type for logs and metric labels; types outside
// RFC 2131 share one label so that hostile packets cannot grow the series.
func msgLabel(t dhcpv4.MessageType) string {
	if t < dhcpv4.MessageTypeDiscover || t > dhcpv4.MessageTypeInform {
		return "other"
	}
	return strings.ToLower(t.String())
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
