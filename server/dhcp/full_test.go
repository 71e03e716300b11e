package dhcp

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// lease runs DISCOVER then REQUEST for hw and returns the ACKed address.
func lease(t *testing.T, s *Server, hw net.HardwareAddr) net.IP {
	t.Helper()
	off := reply(t, s, packet(t, dhcpv4.MessageTypeDiscover, hw), PortDHCP)
	if off == nil || off.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("DISCOVER from %s: reply %v, want OFFER", hw, off)
	}
	ack := reply(t, s, packet(t, dhcpv4.MessageTypeRequest, hw,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr))), PortDHCP)
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("REQUEST %s from %s: reply %v, want ACK", off.YourIPAddr, hw, ack)
	}
	if !ack.YourIPAddr.Equal(off.YourIPAddr) {
		t.Fatalf("ACK yiaddr = %s, want the offered %s", ack.YourIPAddr, off.YourIPAddr)
	}
	return ack.YourIPAddr
}

func smallPool(last byte) Config {
	cfg := testConfig(ModeFull)
	cfg.PoolStart = net.IPv4(198, 51, 100, 100)
	cfg.PoolEnd = net.IPv4(198, 51, 100, last)
	return cfg
}

func TestPoolAllocationAndExhaustion(t *testing.T) {
	st := newMemStore(boot.Machine{Name: "fixed", MACs: []string{mac(9).String()}, IPv4: "198.51.100.101"})
	s := newTestServer(t, smallPool(102), st)
	// .101 is another machine's fixed address: the pool skips it.
	if got := lease(t, s, mac(1)).String(); got != "198.51.100.100" {
		t.Errorf("first lease = %s, want 198.51.100.100", got)
	}
	if got := lease(t, s, mac(2)).String(); got != "198.51.100.102" {
		t.Errorf("second lease = %s, want 198.51.100.102 (101 is reserved)", got)
	}
	// A client that already has a lease gets it again.
	if got := lease(t, s, mac(1)).String(); got != "198.51.100.100" {
		t.Errorf("renewed lease = %s, want 198.51.100.100", got)
	}
	_, err := s.Reply(context.Background(), packet(t, dhcpv4.MessageTypeDiscover, mac(3)), PortDHCP)
	if !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("DISCOVER with a full pool: err = %v, want ErrPoolExhausted", err)
	}
	want := map[string]string{mac(1).String(): "198.51.100.100", mac(2).String(): "198.51.100.102"}
	if diff := cmp.Diff(want, st.leaseIPs()); diff != "" {
		t.Errorf("stored leases (-want +got):\n%s", diff)
	}
}

func TestOfferIsHeldForItsClient(t *testing.T) {
	s := newTestServer(t, smallPool(101), newMemStore())
	a := reply(t, s, packet(t, dhcpv4.MessageTypeDiscover, mac(1)), PortDHCP)
	b := reply(t, s, packet(t, dhcpv4.MessageTypeDiscover, mac(2)), PortDHCP)
	if a == nil || b == nil {
		t.Fatalf("offers = %v, %v; want two", a, b)
	}
	if a.YourIPAddr.Equal(b.YourIPAddr) {
		t.Errorf("both clients offered %s, want distinct addresses", a.YourIPAddr)
	}
}

func TestFixedAddress(t *testing.T) {
	st := newMemStore(boot.Machine{Name: "web1", MACs: []string{mac(5).String()}, IPv4: "198.51.100.50"})
	s := newTestServer(t, testConfig(ModeFull), st)
	if got := lease(t, s, mac(5)).String(); got != "198.51.100.50" {
		t.Errorf("lease of registered machine = %s, want its fixed 198.51.100.50", got)
	}
	nak := reply(t, s, packet(t, dhcpv4.MessageTypeRequest, mac(5),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 120)))), PortDHCP)
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("REQUEST of a pool address by a fixed machine = %v, want NAK", nak)
	}
}

func TestRequest(t *testing.T) {
	st := newMemStore()
	s := newTestServer(t, testConfig(ModeFull), st)
	held := lease(t, s, mac(1))        // 198.51.100.100
	other := net.IPv4(198, 51, 100, 2) // the lab's own DHCP server
	tests := []struct {
		name string
		opts []dhcpv4.Modifier
		want dhcpv4.MessageType
	}{
		{"free pool address", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 150)))}, dhcpv4.MessageTypeAck},
		{"address of another client", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(held))}, dhcpv4.MessageTypeNak},
		{"other subnet", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(192, 0, 2, 7)))}, dhcpv4.MessageTypeNak},
		{"outside pool", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 20)))}, dhcpv4.MessageTypeNak},
		{"server address", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(serverIP))}, dhcpv4.MessageTypeNak},
		{"other server chosen", []dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(other)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 150)))}, dhcpv4.MessageTypeNone},
		{"renewing with ciaddr", []dhcpv4.Modifier{dhcpv4.WithClientIP(net.IPv4(198, 51, 100, 150))}, dhcpv4.MessageTypeAck},
		{"no address at all", nil, dhcpv4.MessageTypeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reply(t, s, packet(t, dhcpv4.MessageTypeRequest, mac(2), tt.opts...), PortDHCP)
			gotType := dhcpv4.MessageTypeNone
			if got != nil {
				gotType = got.MessageType()
			}
			if gotType != tt.want {
				t.Errorf("REQUEST (%s) = %s, want %s", tt.name, gotType, tt.want)
			}
		})
	}
}

func TestLeasesSurviveRestart(t *testing.T) {
	st := newMemStore()
	first := newTestServer(t, testConfig(ModeFull), st)
	lease(t, first, mac(1))
	want := lease(t, first, mac(2))
	// A new server on the same store: mac(2) gets its address back even
	// though mac(3) asks first and it is not the lowest free one.
	second := newTestServer(t, testConfig(ModeFull), st)
	if got := lease(t, second, mac(3)); got.Equal(want) {
		t.Fatalf("new client got %s, the address of a stored lease", got)
	}
	if got := lease(t, second, mac(2)); !got.Equal(want) {
		t.Errorf("after restart lease = %s, want %s", got, want)
	}
}

func TestReleaseAndDecline(t *testing.T) {
	st := newMemStore()
	s := newTestServer(t, testConfig(ModeFull), st)
	ip := lease(t, s, mac(1))
	reply(t, s, packet(t, dhcpv4.MessageTypeRelease, mac(1), dhcpv4.WithClientIP(ip), dhcpv4.WithBroadcast(false)), PortDHCP)
	if got := st.leaseIPs(); len(got) != 0 {
		t.Errorf("leases after RELEASE = %v, want none", got)
	}
	ip = lease(t, s, mac(2))
	reply(t, s, packet(t, dhcpv4.MessageTypeDecline, mac(2),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP))), PortDHCP)
	if got := st.leaseIPs(); len(got) != 0 {
		t.Errorf("leases after DECLINE = %v, want none", got)
	}
	if got := lease(t, s, mac(2)); got.Equal(ip) {
		t.Errorf("after DECLINE of %s the client was offered it again", ip)
	}
}

func TestExpiredLeaseIsReused(t *testing.T) {
	st := newMemStore()
	s := newTestServer(t, smallPool(100), st)
	old := lease(t, s, mac(1))
	later := s.now().Add(3 * s.cfg.LeaseTime)
	s.now = func() time.Time { return later }
	if got := lease(t, s, mac(2)); !got.Equal(old) {
		t.Fatalf("lease in a full pool with one expired lease = %s, want %s", got, old)
	}
	want := map[string]string{mac(2).String(): old.String()}
	if diff := cmp.Diff(want, st.leaseIPs()); diff != "" {
		t.Errorf("stored leases (-want +got):\n%s", diff)
	}
}

func TestBrokenStore(t *testing.T) {
	tests := []struct {
		name string
		typ  dhcpv4.MessageType
		port int
		mode Mode
	}{
		{"discover full", dhcpv4.MessageTypeDiscover, PortDHCP, ModeFull},
		{"request full", dhcpv4.MessageTypeRequest, PortDHCP, ModeFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore()
			st.fail = errBroken
			s := newTestServer(t, testConfig(tt.mode), st)
			req := packet(t, tt.typ, mac(1), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 100))))
			got, err := s.Reply(context.Background(), req, tt.port)
			if !errors.Is(err, errBroken) || got != nil {
				t.Errorf("Reply() with a broken store = %v, %v; want no reply and the store's error", got, err)
			}
		})
	}
	// Unknown MACs are not an error: they get a pool address.
	s := newTestServer(t, testConfig(ModeFull), newMemStore())
	if _, err := s.Reply(context.Background(), packet(t, dhcpv4.MessageTypeDiscover, mac(7)), PortDHCP); err != nil {
		t.Errorf("DISCOVER from an unknown MAC: err = %v, want nil", err)
	}
}
