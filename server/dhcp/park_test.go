package dhcp

import (
	"net"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// TestParkedDiscover: with a one-address pool, a second client's DISCOVER
// gets no answer while the address is leased, and its OFFER as soon as the
// first client RELEASEs it, without sending a DISCOVER again. A third
// client, for which nothing is freed, gets nothing and leaves the queue
// after parkTime.
func TestParkedDiscover(t *testing.T) {
	cfg := testConfig(ModeFull)
	cfg.PoolStart, cfg.PoolEnd = net.IPv4(198, 51, 100, 100), net.IPv4(198, 51, 100, 100)
	s := newTestServer(t, cfg, newMemStore())
	conn, stop := serveOnLoopback(t, s)
	defer stop()

	// One socket per client: replies go back to the sender's port.
	clients := map[byte]net.PacketConn{}
	for _, c := range []byte{1, 2, 3} {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		clients[c] = pc
	}
	send := func(c byte, p *dhcpv4.DHCPv4) {
		t.Helper()
		if _, err := clients[c].WriteTo(p.ToBytes(), conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	recv := func(c byte, wait time.Duration) *dhcpv4.DHCPv4 {
		t.Helper()
		buf := make([]byte, maxPacket)
		_ = clients[c].SetReadDeadline(time.Now().Add(wait))
		n, _, err := clients[c].ReadFrom(buf)
		if err != nil {
			return nil
		}
		p, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			t.Fatalf("client %d: reply does not parse: %v", c, err)
		}
		return p
	}
	opts := pxeOpts(vcOVMF, boot.ArchTypeEFIX64)
	send(1, packet(t, dhcpv4.MessageTypeDiscover, mac(1), opts...))
	if o := recv(1, 5*time.Second); o == nil || o.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("client 1: %v, want an OFFER", o)
	}
	ip := cfg.PoolStart.To4()
	send(1, packet(t, dhcpv4.MessageTypeRequest, mac(1), append(opts, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)))...))
	if a := recv(1, 5*time.Second); a == nil || a.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("client 1: %v, want an ACK", a)
	}

	send(2, packet(t, dhcpv4.MessageTypeDiscover, mac(2), opts...))
	if o := recv(2, 300*time.Millisecond); o != nil {
		t.Fatalf("client 2 got %s while the only address is leased", o.MessageType())
	}
	released := time.Now()
	rel := packet(t, dhcpv4.MessageTypeRelease, mac(1), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)))
	rel.ClientIPAddr = ip
	send(1, rel)
	o := recv(2, 2*time.Second)
	if o == nil || o.MessageType() != dhcpv4.MessageTypeOffer || !o.YourIPAddr.Equal(ip) {
		t.Fatalf("client 2 after the release: %v, want an OFFER of %s", o, ip)
	}
	if d := time.Since(released); d > time.Second {
		t.Errorf("client 2's OFFER came %s after the release, want it at once", d)
	}
	if o.TransactionID != packet(t, dhcpv4.MessageTypeDiscover, mac(2)).TransactionID {
		t.Errorf("OFFER xid %s, want the parked DISCOVER's", o.TransactionID)
	}

	send(3, packet(t, dhcpv4.MessageTypeDiscover, mac(3), opts...))
	if o := recv(3, parkTime+time.Second); o != nil {
		t.Fatalf("client 3 got %s, but no address was freed", o.MessageType())
	}
	s.mu.Lock()
	left := len(s.parked)
	s.mu.Unlock()
	if left != 0 {
		t.Errorf("%d DISCOVERs still parked after parkTime, want 0", left)
	}
}
