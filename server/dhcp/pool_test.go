package dhcp

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
)

func TestBitmap(t *testing.T) {
	tests := []struct {
		name   string
		n      uint32
		add    []uint32
		remove []uint32
		want   []uint32 // members in order
	}{
		{"empty", 100, nil, nil, nil},
		{"one word", 64, []uint32{63, 0, 5}, []uint32{0}, []uint32{5, 63}},
		{"across words", 200, []uint32{199, 64, 128}, nil, []uint32{64, 128, 199}},
		{"out of range ignored", 10, []uint32{10, 99, 3}, []uint32{42}, []uint32{3}},
		{"removed all", 130, []uint32{1, 129}, []uint32{129, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBitmap(tt.n)
			for _, i := range tt.add {
				b.add(i)
			}
			for _, i := range tt.remove {
				b.remove(i)
			}
			var got []uint32
			for {
				i, ok := b.first()
				if !ok {
					break
				}
				if !b.has(i) {
					t.Fatalf("first() = %d, which has() denies", i)
				}
				got = append(got, i)
				b.remove(i)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
			// A member added below the hint is found again.
			if tt.n > 0 {
				b.add(0)
				if i, ok := b.first(); !ok || i != 0 {
					t.Errorf("first() after add(0) = %d, %v; want 0, true", i, ok)
				}
			}
		})
	}
}

// checkTable verifies the lease table's invariants: an address is free
// exactly when nothing holds it, and leases, owners and offers agree.
func checkTable(t *testing.T, tb *leaseTable) {
	t.Helper()
	for ip := tb.start; ; ip++ {
		if free, held := tb.free.has(ip-tb.start), tb.held(ip); free == held {
			t.Fatalf("%s: free %v, held %v", u32ToIP(ip), free, held)
		}
		if ip == tb.end {
			break
		}
	}
	for mac, l := range tb.byMAC {
		if tb.owner[l.ip] != mac {
			t.Fatalf("lease of %s on %s, but the owner of %s is %q", mac, u32ToIP(l.ip), u32ToIP(l.ip), tb.owner[l.ip])
		}
	}
	if len(tb.owner) != len(tb.byMAC) {
		t.Fatalf("%d owners for %d leases", len(tb.owner), len(tb.byMAC))
	}
	for ip, mac := range tb.offerAt {
		if o, ok := tb.offers[mac]; !ok || o.ip != ip {
			t.Fatalf("offerAt %s = %s, whose offer is %v", u32ToIP(ip), mac, o)
		}
	}
}

// scanPick is the allocation rule written as a plain scan of the pool (as
// byoi did before the free index): the client's lease, its offer, the
// requested address, the lowest address nothing holds, then the address
// of the lease that expired first.
func scanPick(tb *leaseTable, mac string, requested net.IP, now time.Time) (uint32, bool) {
	usable := func(ip uint32, allowExpired bool) bool {
		if tb.static[ip] || tb.fixed[ip] {
			return false
		}
		if until, ok := tb.declined[ip]; ok && now.Before(until) {
			return false
		}
		if other, ok := tb.owner[ip]; ok && other != mac && (!allowExpired || now.Before(tb.byMAC[other].Expires)) {
			return false
		}
		for m, o := range tb.offers {
			if m != mac && o.ip == ip && now.Before(o.until) {
				return false
			}
		}
		return true
	}
	var candidates []uint32
	if l, ok := tb.byMAC[mac]; ok {
		candidates = append(candidates, l.ip)
	}
	if o, ok := tb.offers[mac]; ok {
		candidates = append(candidates, o.ip)
	}
	if r := requested.To4(); r != nil {
		candidates = append(candidates, ipToU32(r))
	}
	for _, ip := range candidates {
		if tb.inPool(ip) && usable(ip, false) {
			return ip, true
		}
	}
	for ip := tb.start; ip <= tb.end; ip++ {
		if usable(ip, false) {
			return ip, true
		}
	}
	var best uint32
	var bestExp time.Time
	found := false
	for ip, other := range tb.owner {
		l := tb.byMAC[other]
		if tb.inPool(ip) && !now.Before(l.Expires) && usable(ip, true) {
			if !found || l.Expires.Before(bestExp) || (l.Expires.Equal(bestExp) && ip < best) {
				best, bestExp, found = ip, l.Expires, true
			}
		}
	}
	return best, found
}

// TestTableMatchesScan drives the lease table with random DISCOVERs,
// REQUESTs, RELEASEs, DECLINEs, changes of fixed addresses, restarts and
// the passing of time, and checks every choice against scanPick and the
// invariants after every step.
func TestTableMatchesScan(t *testing.T) {
	const leaseTime = 10 * time.Minute
	static := map[uint32]bool{ipToU32(net.IPv4(198, 51, 100, 20)): true}
	for seed := range uint64(20) {
		// Even seeds: 40 addresses, rarely all taken; odd: 12, mostly
		// exhausted, so that expired leases are reused.
		start, end := net.IPv4(198, 51, 100, 10), net.IPv4(198, 51, 100, 49)
		if seed%2 == 1 {
			end = net.IPv4(198, 51, 100, 21)
		}
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 12))
			now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			tb := newLeaseTable(start, end, static)
			macs := make([]string, 60)
			for i := range macs {
				macs[i] = mac(byte(i)).String()
			}
			for step := range 3000 {
				m := macs[rng.IntN(len(macs))]
				switch op := rng.IntN(100); {
				case op < 40: // DISCOVER, sometimes asking for an address
					var req net.IP
					if rng.IntN(4) == 0 {
						req = u32ToIP(ipToU32(start) + uint32(rng.IntN(45)))
					}
					wantIP, wantOK := scanPick(tb, m, req, now)
					gotIP, gotOK := tb.pick(m, req, now)
					if gotIP != wantIP || gotOK != wantOK {
						t.Fatalf("step %d: pick(%s, %v) = %s, %v; the scan says %s, %v", step, m, req, u32ToIP(gotIP), gotOK, u32ToIP(wantIP), wantOK)
					}
					if gotOK {
						tb.offer(m, gotIP, now.Add(offerHold))
					}
				case op < 70: // REQUEST of the offered address
					o, ok := tb.offers[m]
					if !ok || !now.Before(o.until) {
						continue
					}
					if other, ok := tb.owner[o.ip]; ok && other != m {
						tb.remove(other)
					}
					tb.set(boot.Lease{MAC: m, IP: u32ToIP(o.ip).String(), Expires: now.Add(leaseTime)}, o.ip)
				case op < 78:
					tb.remove(m)
				case op < 81:
					if l, ok := tb.byMAC[m]; ok {
						tb.decline(l.ip, now.Add(leaseTime))
						tb.remove(m)
					}
				case op < 84:
					fixed := map[uint32]bool{}
					for range rng.IntN(4) {
						fixed[ipToU32(start)+uint32(rng.IntN(40))] = true
					}
					tb.setFixed(fixed)
				case op < 86: // restart: only committed leases survive
					next := newLeaseTable(start, end, static)
					next.setFixed(tb.fixed)
					for _, l := range tb.byMAC {
						if err := next.load(l.Lease); err != nil {
							t.Fatalf("step %d: load(%v) = %v", step, l.Lease, err)
						}
					}
					tb = next
				default:
					now = now.Add(time.Duration(rng.IntN(int(leaseTime / 4))))
				}
				checkTable(t, tb)
			}
		})
	}
}
