package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// slowStore is a memStore whose lease writes take a while and may fail for
// one MAC; it records how many writes ran at the same time.
type slowStore struct {
	*memStore
	delay    time.Duration
	failMAC  string
	mu       sync.Mutex
	inFlight int
	maxSeen  int
}

func (s *slowStore) write(mac string, do func() error) error {
	s.mu.Lock()
	s.inFlight++
	s.maxSeen = max(s.maxSeen, s.inFlight)
	s.mu.Unlock()
	time.Sleep(s.delay)
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	if mac == s.failMAC {
		return errBroken
	}
	return do()
}

func (s *slowStore) PutLease(ctx context.Context, l boot.Lease) error {
	return s.write(l.MAC, func() error { return s.memStore.PutLease(ctx, l) })
}

func (s *slowStore) DeleteLease(ctx context.Context, mac string) error {
	return s.write(mac, func() error { return s.memStore.DeleteLease(ctx, mac) })
}

// leaseErr is lease for goroutines: DISCOVER, REQUEST, the ACKed address.
func leaseErr(t *testing.T, s *Server, hw net.HardwareAddr) (net.IP, error) {
	ctx := context.Background()
	off, err := s.Reply(ctx, packet(t, dhcpv4.MessageTypeDiscover, hw), PortDHCP)
	if err != nil || off == nil || off.MessageType() != dhcpv4.MessageTypeOffer {
		return nil, fmt.Errorf("DISCOVER from %s = %v, %v; want OFFER", hw, off, err)
	}
	ack, err := s.Reply(ctx, packet(t, dhcpv4.MessageTypeRequest, hw,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr))), PortDHCP)
	if err != nil || ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
		return nil, fmt.Errorf("REQUEST %s from %s = %v, %v; want ACK", off.YourIPAddr, hw, ack, err)
	}
	return ack.YourIPAddr, nil
}

// TestConcurrentLeases: clients served at once get distinct addresses, the
// store ends up with exactly the table's leases, and lease writes overlap
// (the server's lock is not held across them).
func TestConcurrentLeases(t *testing.T) {
	st := &slowStore{memStore: newMemStore(), delay: 5 * time.Millisecond}
	s := newTestServer(t, smallPool(200), st) // 101 addresses
	const n = 100
	ips := make([]net.IP, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ips[i], errs[i] = leaseErr(t, s, mac(byte(i))) })
	}
	wg.Wait()
	want := map[string]string{}
	seen := map[string]string{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		ip := ips[i].String()
		if other, dup := seen[ip]; dup {
			t.Fatalf("%s leased to both %s and %s", ip, other, mac(byte(i)))
		}
		seen[ip] = mac(byte(i)).String()
		want[mac(byte(i)).String()] = ip
	}
	if diff := cmp.Diff(want, st.leaseIPs()); diff != "" {
		t.Errorf("stored leases (-want +got):\n%s", diff)
	}
	if st.maxSeen < 2 {
		t.Errorf("at most %d lease write at a time, want concurrent writes", st.maxSeen)
	}
	for i := range n {
		wg.Go(func() {
			rel := packet(t, dhcpv4.MessageTypeRelease, mac(byte(i)), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)))
			rel.ClientIPAddr = ips[i]
			if _, err := s.Reply(context.Background(), rel, PortDHCP); err != nil {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := st.leaseIPs(); len(got) != 0 {
		t.Errorf("stored leases after every RELEASE = %v, want none", got)
	}
}

// TestFailedWriteRollsBack: a REQUEST whose lease write fails gets no ACK
// and leaves the address free for others; a RELEASE whose delete fails
// keeps the lease.
func TestFailedWriteRollsBack(t *testing.T) {
	st := &slowStore{memStore: newMemStore()}
	s := newTestServer(t, smallPool(100), st) // one address
	ctx := context.Background()
	st.failMAC = mac(1).String()
	off := reply(t, s, packet(t, dhcpv4.MessageTypeDiscover, mac(1)), PortDHCP)
	_, err := s.Reply(ctx, packet(t, dhcpv4.MessageTypeRequest, mac(1),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr))), PortDHCP)
	if !errors.Is(err, errBroken) {
		t.Fatalf("REQUEST with a failing write: err = %v, want the store's error", err)
	}
	// mac(1)'s offer still holds the only address for a minute; after it
	// the address must be free, not owned by the lease that was never stored.
	s.now = func() time.Time { return time.Now().Add(2 * offerHold) }
	ip, err := leaseErr(t, s, mac(2))
	if err != nil || ip.String() != "198.51.100.100" {
		t.Fatalf("lease for another client after the failed write = %v, %v; want 198.51.100.100", ip, err)
	}
	st.failMAC = mac(2).String()
	rel := packet(t, dhcpv4.MessageTypeRelease, mac(2), dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)))
	rel.ClientIPAddr = ip
	if _, err := s.Reply(ctx, rel, PortDHCP); !errors.Is(err, errBroken) {
		t.Fatalf("RELEASE with a failing delete: err = %v, want the store's error", err)
	}
	if _, err := leaseErr(t, s, mac(3)); err == nil {
		t.Error("a third client got an address still leased to mac(2) after its failed RELEASE")
	}
	if diff := cmp.Diff(map[string]string{mac(2).String(): "198.51.100.100"}, st.leaseIPs()); diff != "" {
		t.Errorf("stored leases (-want +got):\n%s", diff)
	}
}
