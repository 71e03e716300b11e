package dhcp

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// TestExpiredQueueBounded: a client whose lease keeps running out and
// being renewed does not grow the table's queues.
func TestExpiredQueueBounded(t *testing.T) {
	tb := newLeaseTable(net.IPv4(198, 51, 100, 100), net.IPv4(198, 51, 100, 100), nil)
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	m := mac(1).String()
	for i := range 1000 {
		ip, ok := tb.pick(m, nil, now)
		if !ok || ip != ipToU32(net.IPv4(198, 51, 100, 100)) {
			t.Fatalf("round %d: pick = %s, %v; want its own 198.51.100.100", i, u32ToIP(ip), ok)
		}
		tb.offer(m, ip, now.Add(offerHold))
		tb.set(boot.Lease{MAC: m, IP: "198.51.100.100", Expires: now.Add(time.Minute)}, ip)
		now = now.Add(2 * time.Minute)
	}
	if n := len(tb.timers.expired); n > 2*len(tb.byMAC)+64 {
		t.Errorf("expired queue holds %d entries for %d lease, want at most %d", n, len(tb.byMAC), 2*len(tb.byMAC)+64)
	}
	if n := len(tb.timers.pending); n > 4 {
		t.Errorf("%d pending timers for one client, want at most 4", n)
	}
	checkTable(t, tb)
}

// TestRestartWithPersistedLeases: a server started on a store with live
// and expired leases gives every client its own address back, hands out
// never-leased addresses first, then the addresses of expired leases,
// the one that expired first first, and drops the replaced lease.
func TestRestartWithPersistedLeases(t *testing.T) {
	st := newMemStore()
	s := newTestServer(t, smallPool(105), st) // .100-.105
	now := s.now()
	for i, l := range []struct {
		ip      string
		expires time.Duration
	}{{"198.51.100.100", time.Hour}, {"198.51.100.101", time.Hour}, {"198.51.100.102", time.Hour},
		{"198.51.100.103", -time.Hour}, {"198.51.100.104", -2 * time.Hour}} {
		st.leases[mac(byte(i+1)).String()] = boot.Lease{MAC: mac(byte(i + 1)).String(), IP: l.ip, Expires: now.Add(l.expires)}
	}
	tests := []struct {
		client byte
		want   string // "" for exhausted
	}{
		{6, "198.51.100.105"}, // never leased
		{2, "198.51.100.101"}, // its own
		{7, "198.51.100.104"}, // expired two hours ago
		{4, "198.51.100.103"}, // its own, expired
		{8, ""},
	}
	for _, tt := range tests {
		off, err := s.Reply(context.Background(), packet(t, dhcpv4.MessageTypeDiscover, mac(tt.client)), PortDHCP)
		if tt.want == "" {
			if !errors.Is(err, ErrPoolExhausted) {
				t.Errorf("DISCOVER of client %d = %v, %v; want ErrPoolExhausted", tt.client, off, err)
			}
			continue
		}
		if err != nil || off == nil || off.YourIPAddr.String() != tt.want {
			t.Fatalf("DISCOVER of client %d = %v, %v; want an OFFER of %s", tt.client, off, err, tt.want)
		}
		if got := lease(t, s, mac(tt.client)).String(); got != tt.want {
			t.Errorf("lease of client %d = %s, want %s", tt.client, got, tt.want)
		}
	}
	want := map[string]string{}
	for c, ip := range map[byte]string{1: "198.51.100.100", 2: "198.51.100.101", 3: "198.51.100.102", 4: "198.51.100.103",
		6: "198.51.100.105", 7: "198.51.100.104"} {
		want[mac(c).String()] = ip
	}
	if diff := cmp.Diff(want, st.leaseIPs()); diff != "" {
		t.Errorf("stored leases (-want +got):\n%s", diff)
	}
	s.mu.Lock()
	checkTable(t, s.pool)
	s.mu.Unlock()
}

// countingStore counts machine listings and lets tests change machines.
type countingStore struct {
	*memStore
	listings atomic.Int32
}

func (c *countingStore) Machines(ctx context.Context) ([]boot.Machine, error) {
	c.listings.Add(1)
	return c.memStore.Machines(ctx)
}

func (c *countingStore) setMachines(ms ...boot.Machine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.machines = ms
}

// TestFixedIndex: machines are listed once per FixedRefresh, not per
// packet; a machine registered later gets its fixed address once the index
// is refreshed (after FixedRefresh, or at once after MachinesChanged); a
// fixed address inside the pool goes to no one else, and returns to the
// pool when the machine loses it.
func TestFixedIndex(t *testing.T) {
	st := &countingStore{memStore: newMemStore(boot.Machine{Name: "a", MACs: []string{mac(1).String()}, IPv4: "198.51.100.40"})}
	cfg := smallPool(101)
	cfg.FixedRefresh = time.Hour
	s := newTestServer(t, cfg, st)
	clock := s.now()
	s.now = func() time.Time { return clock }
	offerTo := func(c byte) string {
		t.Helper()
		off, err := s.Reply(context.Background(), packet(t, dhcpv4.MessageTypeDiscover, mac(c)), PortDHCP)
		if err != nil || off == nil {
			return ""
		}
		return off.YourIPAddr.String()
	}
	for range 50 {
		if got := offerTo(1); got != "198.51.100.40" {
			t.Fatalf("offer to machine a = %s, want its fixed 198.51.100.40", got)
		}
	}
	if n := st.listings.Load(); n != 1 {
		t.Errorf("machines listed %d times for 50 DISCOVERs, want 1", n)
	}
	defer func() {
		if n := st.listings.Load(); n != 3 {
			t.Errorf("machines listed %d times, want 3 (start, after FixedRefresh, after MachinesChanged)", n)
		}
	}()

	// b is registered with a pool address as its fixed one.
	st.setMachines(boot.Machine{Name: "a", MACs: []string{mac(1).String()}, IPv4: "198.51.100.40"},
		boot.Machine{Name: "b", MACs: []string{mac(2).String()}, IPv4: "198.51.100.100"})
	clock = clock.Add(2 * time.Hour)
	if got := offerTo(2); got != "198.51.100.100" {
		t.Errorf("offer to b after FixedRefresh = %s, want its fixed 198.51.100.100", got)
	}
	if got := offerTo(3); got != "198.51.100.101" {
		t.Errorf("offer to an unknown client = %s, want 198.51.100.101 (100 is b's)", got)
	}
	if got := offerTo(4); got != "" {
		t.Errorf("offer to a second unknown client = %s, want none (101 is offered, 100 is b's)", got)
	}

	st.setMachines(boot.Machine{Name: "a", MACs: []string{mac(1).String()}, IPv4: "198.51.100.40"})
	s.MachinesChanged()
	clock = clock.Add(2 * offerHold) // b's offer of .100 runs out
	if got := offerTo(4); got != "198.51.100.100" {
		t.Errorf("offer after b was removed = %s, want 198.51.100.100 back in the pool", got)
	}
	s.mu.Lock()
	checkTable(t, s.pool)
	s.mu.Unlock()
}

// lockCheckingStore fails the test when a store method runs while the
// server's mutex is held (it is free in a one-goroutine test).
type lockCheckingStore struct {
	*memStore
	t *testing.T
	s *Server
}

func (l *lockCheckingStore) check(method string) {
	if !l.s.mu.TryLock() {
		l.t.Errorf("%s called with the server's mutex held", method)
		return
	}
	l.s.mu.Unlock()
}

func (l *lockCheckingStore) Leases(ctx context.Context) ([]boot.Lease, error) {
	l.check("Leases")
	return l.memStore.Leases(ctx)
}
func (l *lockCheckingStore) PutLease(ctx context.Context, x boot.Lease) error {
	l.check("PutLease")
	return l.memStore.PutLease(ctx, x)
}
func (l *lockCheckingStore) DeleteLease(ctx context.Context, mac string) error {
	l.check("DeleteLease")
	return l.memStore.DeleteLease(ctx, mac)
}
func (l *lockCheckingStore) MachineByMAC(ctx context.Context, mac string) (boot.Machine, error) {
	l.check("MachineByMAC")
	return l.memStore.MachineByMAC(ctx, mac)
}
func (l *lockCheckingStore) Machines(ctx context.Context) ([]boot.Machine, error) {
	l.check("Machines")
	return l.memStore.Machines(ctx)
}

// TestStoreCalledWithoutLock: every store call of DISCOVER, REQUEST,
// RELEASE, DECLINE and the expired-lease takeover runs without the
// server's mutex.
func TestStoreCalledWithoutLock(t *testing.T) {
	st := &lockCheckingStore{memStore: newMemStore(boot.Machine{Name: "f", MACs: []string{mac(9).String()}, IPv4: "198.51.100.50"}), t: t}
	s := newTestServer(t, smallPool(100), st) // one address
	st.s = s
	lease(t, s, mac(9))
	ip := lease(t, s, mac(1))
	reply(t, s, packet(t, dhcpv4.MessageTypeRelease, mac(1), dhcpv4.WithClientIP(ip)), PortDHCP)
	ip = lease(t, s, mac(2))
	reply(t, s, packet(t, dhcpv4.MessageTypeDecline, mac(2), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(ip))), PortDHCP)
	later := s.now().Add(3 * s.cfg.LeaseTime)
	s.now = func() time.Time { return later }
	lease(t, s, mac(3))
	s.now = func() time.Time { return later.Add(3 * s.cfg.LeaseTime) }
	lease(t, s, mac(4)) // takes over mac(3)'s expired lease
	if diff := cmp.Diff(map[string]string{mac(9).String(): "198.51.100.50", mac(4).String(): "198.51.100.100"}, st.leaseIPs()); diff != "" {
		t.Errorf("stored leases (-want +got):\n%s", diff)
	}
}

// TestConcurrentChurn: clients lease, renew and release at once on a
// pool smaller than their number, against a store whose writes take a
// while; no address is ever held by two clients, and the table and the
// store agree at the end.
func TestConcurrentChurn(t *testing.T) {
	st := &slowStore{memStore: newMemStore(), delay: time.Millisecond}
	s := newTestServer(t, smallPool(119), st) // 20 addresses
	ctx := context.Background()
	var mu sync.Mutex
	holder := map[string]string{} // address -> client that got its ACK
	var wg sync.WaitGroup
	for c := range 40 {
		wg.Go(func() {
			hw := mac(byte(c))
			for range 30 {
				ip, err := leaseErr(t, s, hw)
				if err != nil {
					continue // exhausted, or another client's claim won
				}
				mu.Lock()
				if other, ok := holder[ip.String()]; ok && other != hw.String() {
					t.Errorf("%s ACKed to %s while %s holds it", ip, hw, other)
				}
				holder[ip.String()] = hw.String()
				mu.Unlock()
				if c%3 == 0 {
					continue // keeps its lease and renews it next round
				}
				mu.Lock()
				delete(holder, ip.String())
				mu.Unlock()
				rel := packet(t, dhcpv4.MessageTypeRelease, hw)
				rel.ClientIPAddr = ip
				if _, err := s.Reply(ctx, rel, PortDHCP); err != nil {
					t.Errorf("RELEASE of %s by %s = %v", ip, hw, err)
				}
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	checkTable(t, s.pool)
	table := map[string]string{}
	for m, l := range s.pool.byMAC {
		table[m] = l.IP
	}
	if diff := cmp.Diff(table, st.leaseIPs()); diff != "" {
		t.Errorf("store differs from the table (-table +store):\n%s", diff)
	}
	if len(table) == 0 {
		t.Error("no lease left, want those of the clients that keep theirs")
	}
}
