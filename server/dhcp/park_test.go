package dhcp

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// parkLab is a full-mode server on loopback with a settable clock and one
// UDP socket per client (replies go back to the sender's port).
type parkLab struct {
	t       *testing.T
	s       *Server
	server  net.Addr
	clients map[byte]net.PacketConn
	clock   atomic.Pointer[time.Time]
}

func newParkLab(t *testing.T, cfg Config, park time.Duration, clients ...byte) *parkLab {
	l := &parkLab{t: t, s: newTestServer(t, cfg, newMemStore()), clients: map[byte]net.PacketConn{}}
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	l.clock.Store(&start)
	l.s.now = func() time.Time { return *l.clock.Load() }
	l.s.parkTime = park
	conn, _ := serveOnLoopback(t, l.s)
	l.server = conn.LocalAddr()
	for _, c := range clients {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		l.clients[c] = pc
	}
	return l
}

func (l *parkLab) advance(d time.Duration) {
	next := l.clock.Load().Add(d)
	l.clock.Store(&next)
}

func (l *parkLab) send(c byte, p *dhcpv4.DHCPv4) {
	l.t.Helper()
	if _, err := l.clients[c].WriteTo(p.ToBytes(), l.server); err != nil {
		l.t.Fatal(err)
	}
}

// recv returns client c's next reply, nil if none comes within wait.
func (l *parkLab) recv(c byte, wait time.Duration) *dhcpv4.DHCPv4 {
	l.t.Helper()
	buf := make([]byte, maxPacket)
	_ = l.clients[c].SetReadDeadline(time.Now().Add(wait))
	n, _, err := l.clients[c].ReadFrom(buf)
	if err != nil {
		return nil
	}
	p, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		l.t.Fatalf("client %d: reply does not parse: %v", c, err)
	}
	return p
}

var parkOpts = pxeOpts(vcOVMF, boot.ArchTypeEFIX64)

// discover sends client c's DISCOVER with transaction ID xid.
func (l *parkLab) discover(c byte, xid byte) {
	l.t.Helper()
	l.send(c, packet(l.t, dhcpv4.MessageTypeDiscover, mac(c), append(parkOpts, dhcpv4.WithTransactionID(dhcpv4.TransactionID{0xb0, 0x01, xid, c}))...))
}

// leaseIP has client c lease ip (DISCOVER, REQUEST).
func (l *parkLab) leaseIP(c byte, ip net.IP) {
	l.t.Helper()
	l.discover(c, 0)
	if o := l.recv(c, 5*time.Second); o == nil || o.MessageType() != dhcpv4.MessageTypeOffer || !o.YourIPAddr.Equal(ip) {
		l.t.Fatalf("client %d: %v, want an OFFER of %s", c, o, ip)
	}
	l.send(c, packet(l.t, dhcpv4.MessageTypeRequest, mac(c), append(parkOpts, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)))...))
	if a := l.recv(c, 5*time.Second); a == nil || a.MessageType() != dhcpv4.MessageTypeAck {
		l.t.Fatalf("client %d: %v, want an ACK", c, a)
	}
}

func (l *parkLab) release(c byte, ip net.IP) {
	l.t.Helper()
	rel := packet(l.t, dhcpv4.MessageTypeRelease, mac(c), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)))
	rel.ClientIPAddr = ip
	l.send(c, rel)
}

func (l *parkLab) parked() int {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return len(l.s.parked)
}

// waitParked waits until n DISCOVERs are parked (the server handles each
// packet on a goroutine of its own, which a loaded machine may start late).
func (l *parkLab) waitParked(n int) {
	l.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); l.parked() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			l.t.Fatalf("%d DISCOVERs parked after 5 s, want %d", l.parked(), n)
		}
	}
}

// parkedXID returns the transaction ID of the first parked DISCOVER.
func (l *parkLab) parkedXID() dhcpv4.TransactionID {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if len(l.s.parked) == 0 {
		return dhcpv4.TransactionID{}
	}
	return l.s.parked[0].req.TransactionID
}

func onePool(last byte) Config {
	cfg := testConfig(ModeFull)
	cfg.PoolStart, cfg.PoolEnd = net.IPv4(198, 51, 100, 100), net.IPv4(198, 51, 100, last)
	return cfg
}

// TestParkedDiscover: with a one-address pool, a second client's DISCOVER
// gets no answer while the address is leased, and its OFFER as soon as the
// first client RELEASEs it, without sending a DISCOVER again. A third
// client, for which nothing is freed, gets nothing and leaves the queue
// after the park time.
func TestParkedDiscover(t *testing.T) {
	l := newParkLab(t, onePool(100), time.Second, 1, 2, 3)
	ip := net.IPv4(198, 51, 100, 100).To4()
	l.leaseIP(1, ip)

	l.discover(2, 0)
	if o := l.recv(2, 300*time.Millisecond); o != nil {
		t.Fatalf("client 2 got %s while the only address is leased", o.MessageType())
	}
	released := time.Now()
	l.release(1, ip)
	o := l.recv(2, 2*time.Second)
	if o == nil || o.MessageType() != dhcpv4.MessageTypeOffer || !o.YourIPAddr.Equal(ip) {
		t.Fatalf("client 2 after the release: %v, want an OFFER of %s", o, ip)
	}
	if d := time.Since(released); d > time.Second {
		t.Errorf("client 2's OFFER came %s after the release, want it at once", d)
	}

	l.discover(3, 0)
	if o := l.recv(3, 2*time.Second); o != nil {
		t.Fatalf("client 3 got %s, but no address was freed", o.MessageType())
	}
	if n := l.parked(); n != 0 {
		t.Errorf("%d DISCOVERs still parked after the park time, want 0", n)
	}
}

// TestParkedRetransmission: a client's retransmitted DISCOVER keeps it in
// line and moves its deadline, so that an address freed after the first
// copy's park time (but within the retransmission's) still goes to it,
// answered with the latest transaction ID.
func TestParkedRetransmission(t *testing.T) {
	const park = 2 * time.Second
	l := newParkLab(t, onePool(100), park, 1, 2)
	ip := net.IPv4(198, 51, 100, 100).To4()
	l.leaseIP(1, ip)
	l.discover(2, 1)
	l.waitParked(1)
	first := time.Now() // the first copy's deadline is before first+park
	time.Sleep(park / 2)
	retransmitted := time.Now() // the retransmission's is after retransmitted+park
	l.discover(2, 2)
	for want := (dhcpv4.TransactionID{0xb0, 0x01, 2, 2}); l.parkedXID() != want; time.Sleep(time.Millisecond) {
		if time.Since(retransmitted) > park/2 {
			t.Fatalf("the parked DISCOVER's xid is %s %s after the retransmission, want %s", l.parkedXID(), park/2, want)
		}
	}
	time.Sleep(time.Until(first.Add(park + 200*time.Millisecond)))
	n := l.parked()
	if late := time.Since(retransmitted); late >= park {
		t.Fatalf("checked %s after the retransmission, past its park time %s: the machine is too slow for this test", late, park)
	}
	if n != 1 {
		t.Fatalf("%d DISCOVERs parked past the first copy's park time (%s), before the retransmission's, want 1", n, park)
	}
	l.release(1, ip)
	o := l.recv(2, 5*time.Second)
	if o == nil || o.MessageType() != dhcpv4.MessageTypeOffer || !o.YourIPAddr.Equal(ip) {
		t.Fatalf("client 2 after the release: %v, want an OFFER of %s", o, ip)
	}
	if want := (dhcpv4.TransactionID{0xb0, 0x01, 2, 2}); o.TransactionID != want {
		t.Errorf("OFFER xid = %s, want %s (the retransmission's)", o.TransactionID, want)
	}
	if o := l.recv(2, 300*time.Millisecond); o != nil {
		t.Errorf("client 2 got a second %s", o.MessageType())
	}
}

// TestParkedAnsweredDirectly: a parked client whose retransmission is
// answered at once (an offer to someone else ran out) leaves the line, so
// that the next freed address goes to the client behind it.
func TestParkedAnsweredDirectly(t *testing.T) {
	l := newParkLab(t, onePool(101), 5*time.Second, 1, 2, 3, 4)
	l.discover(1, 0) // holds .100 for offerHold, never requests it
	if o := l.recv(1, 5*time.Second); o == nil || !o.YourIPAddr.Equal(net.IPv4(198, 51, 100, 100)) {
		t.Fatalf("client 1: %v, want an OFFER of 198.51.100.100", o)
	}
	held := net.IPv4(198, 51, 100, 101).To4()
	l.leaseIP(4, held)
	l.discover(2, 0)
	l.waitParked(1) // 2 is first in line
	l.discover(3, 0)
	l.waitParked(2)
	l.advance(2 * offerHold)
	l.discover(2, 1)
	o := l.recv(2, 2*time.Second)
	if o == nil || !o.YourIPAddr.Equal(net.IPv4(198, 51, 100, 100)) {
		t.Fatalf("client 2 after client 1's offer ran out: %v, want an OFFER of 198.51.100.100", o)
	}
	l.release(4, held)
	if o := l.recv(3, 2*time.Second); o == nil || !o.YourIPAddr.Equal(held) {
		t.Fatalf("client 3 after the release: %v, want an OFFER of %s", o, held)
	}
	if o := l.recv(2, 300*time.Millisecond); o != nil {
		t.Errorf("client 2 got a second %s (of %s)", o.MessageType(), o.YourIPAddr)
	}
}
