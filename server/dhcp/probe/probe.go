// Package probe looks for other DHCP and proxyDHCP servers on a network
// segment: it broadcasts one DISCOVER that looks like a PXE client's, from
// a made-up MAC address, and lists who offers. byoi runs it before it binds
// its own DHCP ports (another server answering PXE clients on the same
// segment makes them boot whatever answers first) and again now and then
// for its metrics.
//
//	found, err := probe.Run(ctx, probe.Config{Interface: "eth1", Ignore: []net.IP{self}})
//	for _, s := range found { log.Warn("another DHCP server", "ip", s.IP, "kind", s.Kind) }
package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Kinds of servers found.
const (
	// KindDHCP hands out addresses (its offer has a yiaddr).
	KindDHCP = "dhcp"
	// KindProxy answers PXE clients without an address (proxyDHCP).
	KindProxy = "proxydhcp"
)

// Server is one server that answered the probe.
type Server struct {
	IP       net.IP // its server identifier (option 54), else the packet's source
	Kind     string // KindDHCP or KindProxy
	BootFile string // the boot file it offers a PXE client, "" for none
}

// PXE reports whether s would send a PXE client somewhere to boot.
func (s Server) PXE() bool { return s.Kind == KindProxy || s.BootFile != "" }

// Config configures Run. Interface is required.
type Config struct {
	Interface string
	// Ignore lists byoi's own addresses: offers from them are not others.
	Ignore []net.IP
	// Wait is how long to collect offers; 0: DefaultWait.
	Wait time.Duration
	// Conn, for tests, is the socket to use (bound to port 68); nil: one
	// bound to Interface (Linux).
	Conn net.PacketConn
}

// DefaultWait is how long Run listens: a DHCP server answers within
// milliseconds unless it first pings the address it will offer (dnsmasq
// does, for 3 s), or waits on purpose (a second Windows server).
const DefaultWait = 4 * time.Second

// Run broadcasts the probe on the interface and returns the servers that
// offered, sorted by address.
func Run(ctx context.Context, cfg Config) ([]Server, error) {
	if cfg.Wait <= 0 {
		cfg.Wait = DefaultWait
	}
	conn := cfg.Conn
	if conn == nil {
		if cfg.Interface == "" {
			return nil, errors.New("dhcp probe: no interface")
		}
		c, err := listen(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("dhcp probe on %s: %w", cfg.Interface, err)
		}
		defer c.Close()
		conn = c
	}
	hw := make(net.HardwareAddr, 6)
	rand.Read(hw)
	hw[0] = hw[0]&^1 | 2 // unicast, locally administered: no real NIC has it
	req, err := dhcpv4.NewDiscovery(hw,
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003001")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientSystemArchitectureType, []byte{0, 7})),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerName, dhcpv4.OptionClassIdentifier),
	)
	if err != nil {
		return nil, fmt.Errorf("dhcp probe: %w", err)
	}
	if _, err := conn.WriteTo(req.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}); err != nil {
		return nil, fmt.Errorf("dhcp probe: send: %w", err)
	}
	deadline := time.Now().Add(cfg.Wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	var found []Server
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return found, fmt.Errorf("dhcp probe: read: %w", err)
		}
		s, ok := offer(buf[:n], from, req.TransactionID, hw, cfg.Ignore)
		if ok && !slices.ContainsFunc(found, func(f Server) bool { return f.IP.Equal(s.IP) }) {
			found = append(found, s)
		}
	}
	slices.SortFunc(found, func(a, b Server) int { return slices.Compare(a.IP.To16(), b.IP.To16()) })
	return found, nil
}

// offer reads one answer to the probe: an OFFER for its transaction and
// MAC, from a server not ignored.
func offer(raw []byte, from net.Addr, xid dhcpv4.TransactionID, hw net.HardwareAddr, ignore []net.IP) (Server, bool) {
	p, err := dhcpv4.FromBytes(raw)
	if err != nil || p.OpCode != dhcpv4.OpcodeBootReply || p.TransactionID != xid ||
		p.ClientHWAddr.String() != hw.String() || p.MessageType() != dhcpv4.MessageTypeOffer {
		return Server{}, false
	}
	ip := p.ServerIdentifier()
	if ip == nil {
		if ua, ok := from.(*net.UDPAddr); ok {
			ip = ua.IP
		}
	}
	for _, own := range ignore {
		if ip.Equal(own) {
			return Server{}, false
		}
	}
	s := Server{IP: ip.To4(), Kind: KindDHCP, BootFile: p.BootFileName}
	if s.BootFile == "" {
		s.BootFile = p.BootFileNameOption()
	}
	if p.YourIPAddr == nil || p.YourIPAddr.IsUnspecified() {
		s.Kind = KindProxy
	}
	return s, true
}
