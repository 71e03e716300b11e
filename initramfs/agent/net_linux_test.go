package agent

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// inNetns runs fn on a locked thread inside a fresh network namespace,
// which disappears when fn returns.
func inNetns(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatal("BYOI_INTEGRATION=1 but not root: network namespace tests need root")
		}
		t.Skip("needs root for a network namespace")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		orig, err := netns.Get()
		if err != nil {
			t.Errorf("netns.Get: %v", err)
			return
		}
		defer orig.Close()
		ns, err := netns.New()
		if err != nil {
			t.Errorf("netns.New: %v", err)
			return
		}
		defer ns.Close()
		fn()
	}()
	<-done
}

func TestBringUpStatic(t *testing.T) {
	inNetns(t, func() {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "byoi0"}, PeerName: "byoi1"}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Errorf("add veth: %v", err)
			return
		}
		etc := t.TempDir()
		cfg := Config{Static: &StaticIP{Addr: netip.MustParsePrefix("198.51.100.20/24"),
			Gateway: netip.MustParseAddr("198.51.100.1"), DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53")}, Device: "byoi0"}}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		if _, err := bringUp(context.Background(), "byoi0", cfg, etc, log); err != nil {
			t.Errorf("bringUp(static) = %v", err)
			return
		}
		link, err := netlink.LinkByName("byoi0")
		if err != nil {
			t.Errorf("LinkByName: %v", err)
			return
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("byoi0 is not up")
		}
		addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
		if len(addrs) != 1 || addrs[0].IPNet.String() != "198.51.100.20/24" {
			t.Errorf("byoi0 addresses = %v, want 198.51.100.20/24", addrs)
		}
		routes, _ := netlink.RouteList(link, netlink.FAMILY_V4)
		found := false
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "198.51.100.1" {
				found = true
			}
		}
		if !found {
			t.Errorf("routes on byoi0 = %v, want a default route via 198.51.100.1", routes)
		}
		if b, err := os.ReadFile(filepath.Join(etc, "resolv.conf")); err != nil || string(b) != "# written by byoi-agent\nnameserver 198.51.100.53\n" {
			t.Errorf("resolv.conf = %q, %v", b, err)
		}
	})
}

func TestBringUpDHCP(t *testing.T) {
	inNetns(t, func() {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "byoi0"}, PeerName: "byoi1"}
		if err := netlink.LinkAdd(veth); err != nil {
			t.Errorf("add veth: %v", err)
			return
		}
		peer, err := netlink.LinkByName("byoi1")
		if err != nil {
			t.Errorf("LinkByName(byoi1): %v", err)
			return
		}
		srvIP := net.IPv4(198, 51, 100, 1).To4()
		if err := netlink.AddrAdd(peer, &netlink.Addr{IPNet: &net.IPNet{IP: srvIP, Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Errorf("address byoi1: %v", err)
			return
		}
		if err := netlink.LinkSetUp(peer); err != nil {
			t.Errorf("up byoi1: %v", err)
			return
		}
		handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
			typ := dhcpv4.MessageTypeOffer
			if m.MessageType() == dhcpv4.MessageTypeRequest {
				typ = dhcpv4.MessageTypeAck
			}
			reply, err := dhcpv4.NewReplyFromRequest(m, dhcpv4.WithMessageType(typ), dhcpv4.WithYourIP(net.IPv4(198, 51, 100, 77)),
				dhcpv4.WithNetmask(net.CIDRMask(24, 32)), dhcpv4.WithRouter(srvIP), dhcpv4.WithDNS(net.IPv4(198, 51, 100, 53)),
				dhcpv4.WithServerIP(srvIP), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(srvIP)), dhcpv4.WithLeaseTime(3600))
			if err != nil {
				return
			}
			conn.WriteTo(reply.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
		}
		srv, err := server4.NewServer("byoi1", &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, handler)
		if err != nil {
			t.Errorf("dhcp server: %v", err)
			return
		}
		go srv.Serve()
		defer srv.Close()
		etc := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		nc, err := bringUp(ctx, "byoi0", Config{}, etc, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Errorf("bringUp(dhcp) = %v", err)
			return
		}
		want := netConfig{Addr: netip.MustParsePrefix("198.51.100.77/24"), Gateway: netip.MustParseAddr("198.51.100.1"),
			DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53")}}
		if nc.Addr != want.Addr || nc.Gateway != want.Gateway || len(nc.DNS) != 1 || nc.DNS[0] != want.DNS[0] {
			t.Errorf("bringUp(dhcp) = %+v, want %+v", nc, want)
		}
		link, _ := netlink.LinkByName("byoi0")
		addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
		if len(addrs) != 1 || addrs[0].IPNet.String() != "198.51.100.77/24" {
			t.Errorf("byoi0 addresses = %v, want 198.51.100.77/24", addrs)
		}
	})
}
