package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
)

// bringUp configures iface from ip= or DHCP and writes etcDir/resolv.conf.
// A DHCP lease is renewed in the background until ctx ends.
func bringUp(ctx context.Context, iface string, cfg Config, etcDir string, log *slog.Logger) (netConfig, error) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return netConfig{}, fmt.Errorf("interface %s: %w", iface, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return netConfig{}, fmt.Errorf("bring %s up: %w", iface, err)
	}
	var nc netConfig
	if cfg.Static != nil {
		nc = netConfig{Addr: cfg.Static.Addr, Gateway: cfg.Static.Gateway, DNS: cfg.Static.DNS}
		log.Info("static address", "iface", iface, "addr", nc.Addr, "gateway", nc.Gateway)
	} else if nc, err = dhcp(ctx, iface, log); err != nil {
		return nc, err
	}
	if err := configure(link, nc); err != nil {
		return nc, err
	}
	return nc, writeResolvConf(etcDir, nc)
}

// configure sets the address and the default route.
func configure(link netlink.Link, nc netConfig) error {
	a := nc.Addr.Addr().As4()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a[:]), Mask: net.CIDRMask(nc.Addr.Bits(), 32)}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", nc.Addr, link.Attrs().Name, err)
	}
	if nc.Gateway.IsValid() {
		g := nc.Gateway.As4()
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(g[:])}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("default route via %s on %s: %w", nc.Gateway, link.Attrs().Name, err)
		}
	}
	return nil
}

// dhcp gets a lease on iface, retrying for about two minutes (links with
// autonegotiation take seconds to come up).
func dhcp(ctx context.Context, iface string, log *slog.Logger) (netConfig, error) {
	c, err := nclient4.New(iface, nclient4.WithTimeout(4*time.Second), nclient4.WithRetry(2))
	if err != nil {
		return netConfig{}, fmt.Errorf("dhcp on %s: %w", iface, err)
	}
	var lease *nclient4.Lease
	deadline := time.Now().Add(2 * time.Minute)
	for attempt := 1; ; attempt++ {
		lease, err = c.Request(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			c.Close()
			return netConfig{}, fmt.Errorf("dhcp on %s: no lease after %d attempts: %w", iface, attempt, err)
		}
		log.Warn("dhcp: no lease yet", "iface", iface, "attempt", attempt, "err", err)
	}
	nc := leaseConfig(lease.ACK)
	log.Info("dhcp lease", "iface", iface, "addr", nc.Addr, "gateway", nc.Gateway, "dns", nc.DNS,
		"server", lease.ACK.ServerIdentifier(), "lease", lease.ACK.IPAddressLeaseTime(time.Hour))
	go renew(ctx, c, lease, log)
	return nc, nil
}

// leaseConfig turns an ACK into a netConfig (mask /24 when absent).
func leaseConfig(ack *dhcpv4.DHCPv4) netConfig {
	var nc netConfig
	ip, _ := netip.AddrFromSlice(ack.YourIPAddr.To4())
	bits := 24
	if m := ack.SubnetMask(); m != nil {
		if ones, total := m.Size(); total == 32 {
			bits = ones
		}
	}
	nc.Addr = netip.PrefixFrom(ip, bits)
	if r := ack.Router(); len(r) > 0 {
		nc.Gateway, _ = netip.AddrFromSlice(r[0].To4())
	}
	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			nc.DNS = append(nc.DNS, a)
		}
	}
	nc.Domain = ack.DomainName()
	return nc
}

// renew keeps the lease alive for long installs.
func renew(ctx context.Context, c *nclient4.Client, lease *nclient4.Lease, log *slog.Logger) {
	defer c.Close()
	for {
		wait := lease.ACK.IPAddressLeaseTime(time.Hour) / 2
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(wait, 30*time.Second)):
		}
		l, err := c.Renew(ctx, lease)
		if err != nil {
			log.Warn("dhcp renew failed", "err", err)
			continue
		}
		lease = l
	}
}
