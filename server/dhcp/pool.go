package dhcp

import (
	"fmt"
	"net"
	"time"

	"github.com/byoi/byoi/boot"
)

// offerHold is how long an offered address stays reserved for the client
// it was offered to.
const offerHold = time.Minute

// leaseTable is the in-memory view of the full-mode address pool. The
// store holds the committed leases; offers and declined addresses live
// only here. The Server's mutex guards it.
type leaseTable struct {
	start, end uint32
	byMAC      map[string]boot.Lease
	owner      map[uint32]string // address -> MAC of its committed lease
	offers     map[string]offer  // MAC -> address offered, not yet requested
	declined   map[uint32]time.Time
}

type offer struct {
	ip    uint32
	until time.Time
}

func newLeaseTable(start, end net.IP) *leaseTable {
	return &leaseTable{
		start:    ipToU32(start),
		end:      ipToU32(end),
		byMAC:    map[string]boot.Lease{},
		owner:    map[uint32]string{},
		offers:   map[string]offer{},
		declined: map[uint32]time.Time{},
	}
}

// load adds a persisted lease.
func (t *leaseTable) load(l boot.Lease) error {
	ip := net.ParseIP(l.IP).To4()
	if ip == nil {
		return fmt.Errorf("invalid address %q", l.IP)
	}
	mac, err := boot.NormalizeMAC(l.MAC)
	if err != nil {
		return err
	}
	l.MAC = mac
	t.set(l, ipToU32(ip))
	return nil
}

func (t *leaseTable) set(l boot.Lease, ip uint32) {
	if old, ok := t.byMAC[l.MAC]; ok {
		delete(t.owner, ipToU32(net.ParseIP(old.IP)))
	}
	t.byMAC[l.MAC] = l
	t.owner[ip] = l.MAC
	delete(t.offers, l.MAC)
}

func (t *leaseTable) remove(mac string) {
	if l, ok := t.byMAC[mac]; ok {
		ip := ipToU32(net.ParseIP(l.IP))
		if t.owner[ip] == mac {
			delete(t.owner, ip)
		}
		delete(t.byMAC, mac)
	}
	delete(t.offers, mac)
}

func (t *leaseTable) inPool(ip uint32) bool { return ip >= t.start && ip <= t.end }

// usable reports whether ip may go to mac: in no one else's live lease or
// offer, not declined, not reserved. Expired leases of other clients count
// as taken unless allowExpired.
func (t *leaseTable) usable(ip uint32, mac string, now time.Time, reserved map[uint32]bool, allowExpired bool) bool {
	if reserved[ip] {
		return false
	}
	if until, ok := t.declined[ip]; ok && now.Before(until) {
		return false
	}
	if other, ok := t.owner[ip]; ok && other != mac {
		if !allowExpired || now.Before(t.byMAC[other].Expires) {
			return false
		}
	}
	for m, o := range t.offers {
		if m != mac && o.ip == ip && now.Before(o.until) {
			return false
		}
	}
	return true
}

// pick chooses an address for mac: its lease, its pending offer, the
// address it asks for, the first never-leased address, and last the
// address of the lease that expired first.
func (t *leaseTable) pick(mac string, requested net.IP, now time.Time, reserved map[uint32]bool) (uint32, bool) {
	var candidates []uint32
	if l, ok := t.byMAC[mac]; ok {
		candidates = append(candidates, ipToU32(net.ParseIP(l.IP)))
	}
	if o, ok := t.offers[mac]; ok {
		candidates = append(candidates, o.ip)
	}
	if r := requested.To4(); r != nil {
		candidates = append(candidates, ipToU32(r))
	}
	for _, ip := range candidates {
		if t.inPool(ip) && t.usable(ip, mac, now, reserved, false) {
			return ip, true
		}
	}
	for ip := t.start; ; ip++ {
		if t.usable(ip, mac, now, reserved, false) {
			return ip, true
		}
		if ip == t.end {
			break
		}
	}
	var best uint32
	var bestExp time.Time
	found := false
	for ip, other := range t.owner {
		l := t.byMAC[other]
		if t.inPool(ip) && now.After(l.Expires) && t.usable(ip, mac, now, reserved, true) {
			if !found || l.Expires.Before(bestExp) || (l.Expires.Equal(bestExp) && ip < best) {
				best, bestExp, found = ip, l.Expires, true
			}
		}
	}
	return best, found
}
