// Package dhcp is byoi's DHCP server: it hands network-boot clients the
// file they need next (an iPXE binary over TFTP or HTTP, or the iPXE
// bootstrap script URL), either as a full DHCP server with an address pool
// and persisted leases, or as a proxyDHCP server (PXE specification) next
// to the lab's own DHCP server.
//
// The packet logic is a pure function of the request and the lease table,
// testable without sockets:
//
//	srv, err := dhcp.New(dhcp.Config{Mode: dhcp.ModeProxy, ServerIP: ip}, store)
//	reply, err := srv.Reply(ctx, req, dhcp.PortDHCP) // nil reply: stay quiet
//
// Sockets are injected (Serve) or bound per interface (ListenAndServe, Linux).
package dhcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/byoi/byoi/ipxe"
)

// Mode selects how the server answers.
type Mode string

// DHCP modes.
const (
	// ModeFull: a DHCP server with an address pool and fixed addresses.
	ModeFull Mode = "full"
	// ModeProxy: proxyDHCP; no addresses, PXE clients only, ports 67 and 4011.
	ModeProxy Mode = "proxy"
	// ModeOff: answer nothing.
	ModeOff Mode = "off"
)

// Ports the server answers on.
const (
	PortDHCP = 67   // DHCP server port
	PortPXE  = 4011 // PXE boot server port (proxyDHCP REQUESTs)
)

// Defaults applied by Config.Validate.
const (
	DefaultMode      = ModeProxy
	DefaultLeaseTime = time.Hour
)

// Config configures a Server. The zero value needs only ServerIP (and, for
// interface binding, Interfaces); Validate fills in everything else.
type Config struct {
	// Mode is full, proxy or off. Default proxy: it never hands out
	// addresses on a network that already has a DHCP server.
	Mode Mode
	// Interfaces are the network interfaces ListenAndServe answers on.
	Interfaces []string
	// ServerIP is byoi's address as machines reach it: siaddr, option 54,
	// option 66 and the default BaseURL.
	ServerIP net.IP
	// BaseURL is byoi's HTTP base URL, e.g. "http://198.51.100.1:8080"
	// (no trailing slash). Default "http://" + ServerIP.
	BaseURL string
	// PoolStart and PoolEnd bound the addresses handed out in full mode
	// (inclusive). Default: the upper half of ServerIP's subnet.
	PoolStart, PoolEnd net.IP
	// Netmask of the served subnet. Default /24.
	Netmask net.IPMask
	// Router (option 3) and DNS (option 6); none by default.
	Router net.IP
	DNS    []net.IP
	// LeaseTime of full-mode leases. Default one hour.
	LeaseTime time.Duration
	// FixedRefresh is how old the index of machines' fixed addresses may
	// get before a packet rebuilds it from the store (full mode; see
	// Server.MachinesChanged to rebuild it sooner). Default 2 s.
	FixedRefresh time.Duration
	// IPXE chooses among the iPXE binaries.
	IPXE ipxe.Options
	// KnownOnly answers only the MACs of registered machines (not
	// discovered ones); every other client is left alone, as if byoi were
	// not there. Needs a store.
	KnownOnly bool
	// Logger receives one line per answered packet; discarded when nil.
	Logger *slog.Logger
	// Registerer receives byoi_dhcp_packets_total; no metrics when nil.
	Registerer prometheus.Registerer
}

// Validate applies the defaults and checks the configuration.
func (c *Config) Validate() error {
	if c.Mode == "" {
		c.Mode = DefaultMode
	}
	switch c.Mode {
	case ModeFull, ModeProxy, ModeOff:
	default:
		return fmt.Errorf("invalid dhcp mode %q: use %q, %q or %q", c.Mode, ModeFull, ModeProxy, ModeOff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LeaseTime <= 0 {
		c.LeaseTime = DefaultLeaseTime
	}
	if c.FixedRefresh <= 0 {
		c.FixedRefresh = DefaultFixedRefresh
	}
	if c.Mode == ModeOff {
		return nil
	}
	ip := c.ServerIP.To4()
	if ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("dhcp server address %v: need the IPv4 address machines reach", c.ServerIP)
	}
	c.ServerIP = ip
	if c.Netmask == nil {
		c.Netmask = net.CIDRMask(24, 32)
	}
	if ones, bits := c.Netmask.Size(); bits != 32 || ones == 0 || ones > 30 {
		return fmt.Errorf("invalid netmask %v: need an IPv4 mask between /1 and /30", c.Netmask)
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + ip.String()
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return fmt.Errorf("invalid base URL %q: must start with http:// or https://", c.BaseURL)
	}
	if c.Router != nil && c.Router.To4() == nil {
		return fmt.Errorf("invalid router %v: need an IPv4 address", c.Router)
	}
	for _, d := range c.DNS {
		if d.To4() == nil {
			return fmt.Errorf("invalid DNS server %v: need an IPv4 address", d)
		}
	}
	if c.Mode == ModeFull {
		return c.validatePool()
	}
	return nil
}

func (c *Config) validatePool() error {
	subnet := &net.IPNet{IP: c.ServerIP.Mask(c.Netmask), Mask: c.Netmask}
	network, bcast := ipToU32(subnet.IP), ipToU32(subnet.IP)|^ipToU32(net.IP(c.Netmask))
	if c.PoolStart == nil && c.PoolEnd == nil {
		c.PoolStart = u32ToIP(network + (bcast-network+1)/2)
		c.PoolEnd = u32ToIP(bcast - 1)
	}
	start, end := c.PoolStart.To4(), c.PoolEnd.To4()
	if start == nil || end == nil {
		return errors.New("dhcp pool: need both an IPv4 start and end address")
	}
	if !subnet.Contains(start) || !subnet.Contains(end) {
		return fmt.Errorf("dhcp pool %v-%v is outside the server's subnet %v", start, end, subnet)
	}
	if ipToU32(start) > ipToU32(end) {
		return fmt.Errorf("dhcp pool %v-%v: start is after end", start, end)
	}
	c.PoolStart, c.PoolEnd = start, end
	return nil
}

func ipToU32(ip net.IP) uint32 {
	b := ip.To4()
	if b == nil {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func u32ToIP(v uint32) net.IP {
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4()
}
