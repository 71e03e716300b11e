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
// only here. The Server's mutex guards it; no method does I/O.
//
// Every pool address is in exactly one of three places: held (by a
// reservation, a machine's fixed address, a lease, an offer or a
// decline), in free (held by nothing: handed out first, lowest address
// first), or held by an expired lease (handed out last, the lease that
// expired first first, so that a client coming back after its lease ran
// out still finds its address while the pool has others). Choosing an
// address costs O(1) amortised, whatever the pool's size.
type leaseTable struct {
	start, end uint32
	free       *bitmap               // bit ip-start: the address is held by nothing
	static     map[uint32]bool       // server, router, network, broadcast
	fixed      map[uint32]bool       // machines' fixed addresses
	byMAC      map[string]tableLease // committed leases, expired ones included
	owner      map[uint32]string
	offers     map[string]offer // MAC -> address offered, not yet requested
	offerAt    map[uint32]string
	declined   map[uint32]time.Time
	timers     timerQueues
}

// tableLease is a committed lease with its address as a number.
type tableLease struct {
	boot.Lease
	ip uint32
}

type offer struct {
	ip    uint32
	until time.Time
}

// newLeaseTable returns a table of the pool start..end (inclusive) in
// which the static addresses are never handed out.
func newLeaseTable(start, end net.IP, static map[uint32]bool) *leaseTable {
	t := &leaseTable{
		start:    ipToU32(start),
		end:      ipToU32(end),
		static:   static,
		fixed:    map[uint32]bool{},
		byMAC:    map[string]tableLease{},
		owner:    map[uint32]string{},
		offers:   map[string]offer{},
		offerAt:  map[uint32]string{},
		declined: map[uint32]time.Time{},
	}
	t.free = newBitmap(t.end - t.start + 1)
	for ip := t.start; ; ip++ {
		if !static[ip] {
			t.free.add(ip - t.start)
		}
		if ip == t.end {
			break
		}
	}
	return t
}

func (t *leaseTable) inPool(ip uint32) bool { return ip >= t.start && ip <= t.end }

// held reports whether anything holds ip.
func (t *leaseTable) held(ip uint32) bool {
	_, leased := t.owner[ip]
	_, offered := t.offerAt[ip]
	_, declined := t.declined[ip]
	return t.static[ip] || t.fixed[ip] || leased || offered || declined
}

// take marks ip as held; unhold returns it to the free addresses when
// nothing holds it any more.
func (t *leaseTable) take(ip uint32) {
	if t.inPool(ip) {
		t.free.remove(ip - t.start)
	}
}

func (t *leaseTable) unhold(ip uint32) {
	if t.inPool(ip) && !t.held(ip) {
		t.free.add(ip - t.start)
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
	if other, ok := t.owner[ipToU32(ip)]; ok && other != mac {
		return fmt.Errorf("address %s is leased to %s too", ip, other)
	}
	t.set(l, ipToU32(ip))
	return nil
}

// set records l (for address ip) as mac's lease, replacing its previous
// lease and offer. The caller has removed any other owner of ip.
func (t *leaseTable) set(l boot.Lease, ip uint32) {
	if old, ok := t.byMAC[l.MAC]; ok && old.ip != ip {
		if t.owner[old.ip] == l.MAC {
			delete(t.owner, old.ip)
		}
		t.unhold(old.ip)
	}
	t.byMAC[l.MAC] = tableLease{Lease: l, ip: ip}
	t.owner[ip] = l.MAC
	t.take(ip)
	t.dropOffer(l.MAC)
	if t.inPool(ip) {
		t.timers.addLease(l.MAC, ip, l.Expires)
	}
}

// remove forgets mac's lease and offer.
func (t *leaseTable) remove(mac string) {
	if l, ok := t.byMAC[mac]; ok {
		delete(t.byMAC, mac)
		if t.owner[l.ip] == mac {
			delete(t.owner, l.ip)
		}
		t.unhold(l.ip)
	}
	t.dropOffer(mac)
}

// offer reserves ip for mac until the given time.
func (t *leaseTable) offer(mac string, ip uint32, until time.Time) {
	t.dropOffer(mac)
	t.offers[mac] = offer{ip: ip, until: until}
	t.offerAt[ip] = mac
	t.take(ip)
	t.timers.addOffer(mac, ip, until)
}

func (t *leaseTable) dropOffer(mac string) {
	o, ok := t.offers[mac]
	if !ok {
		return
	}
	delete(t.offers, mac)
	if t.offerAt[o.ip] == mac {
		delete(t.offerAt, o.ip)
	}
	t.unhold(o.ip)
}

// decline keeps ip out of the pool until the given time: a client found
// another host using it.
func (t *leaseTable) decline(ip uint32, until time.Time) {
	t.declined[ip] = until
	t.take(ip)
	t.timers.addDecline(ip, until)
}

// setFixed replaces the set of machines' fixed addresses.
func (t *leaseTable) setFixed(fixed map[uint32]bool) {
	old := t.fixed
	t.fixed = fixed
	for ip := range fixed {
		t.take(ip)
	}
	for ip := range old {
		if !fixed[ip] {
			t.unhold(ip)
		}
	}
}

// usable reports whether ip may go to mac: not reserved, not a machine's
// fixed address, not declined, in no one else's live lease or offer.
// Expired leases of other clients count as taken unless allowExpired.
func (t *leaseTable) usable(ip uint32, mac string, now time.Time, allowExpired bool) bool {
	if t.static[ip] || t.fixed[ip] {
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
	if other, ok := t.offerAt[ip]; ok && other != mac && now.Before(t.offers[other].until) {
		return false
	}
	return true
}

// pick chooses an address for mac: its lease, its offer (even one that
// ran out), the address it asks for, the lowest free address, and last the
// address of the lease that expired first.
func (t *leaseTable) pick(mac string, requested net.IP, now time.Time) (uint32, bool) {
	var candidates [3]uint32
	if l, ok := t.byMAC[mac]; ok {
		candidates[0] = l.ip
	}
	if o, ok := t.offers[mac]; ok {
		candidates[1] = o.ip
	}
	if r := requested.To4(); r != nil {
		candidates[2] = ipToU32(r)
	}
	t.expire(now)
	for _, ip := range candidates {
		if ip != 0 && t.inPool(ip) && t.usable(ip, mac, now, false) {
			return ip, true
		}
	}
	if i, ok := t.free.first(); ok {
		return t.start + i, true
	}
	return t.timers.oldestExpired(func(e timer) bool {
		l, ok := t.byMAC[e.mac]
		return ok && l.ip == e.ip && l.Expires.Equal(e.until)
	}, func(ip uint32) bool { return t.usable(ip, mac, now, true) })
}

// expire ends the offers and declines that ran out by now and moves the
// leases that ran out to the expired queue.
func (t *leaseTable) expire(now time.Time) {
	for _, e := range t.timers.due(now) {
		switch e.kind {
		case timerOffer:
			if o, ok := t.offers[e.mac]; ok && o.ip == e.ip && o.until.Equal(e.until) {
				t.dropOffer(e.mac)
			}
		case timerDecline:
			if until, ok := t.declined[e.ip]; ok && until.Equal(e.until) {
				delete(t.declined, e.ip)
				t.unhold(e.ip)
			}
		case timerLease:
			if l, ok := t.byMAC[e.mac]; ok && l.ip == e.ip && l.Expires.Equal(e.until) {
				t.timers.pushExpired(e)
			}
		}
	}
	t.timers.compact(len(t.byMAC), func(e timer) bool {
		l, ok := t.byMAC[e.mac]
		return ok && l.ip == e.ip && l.Expires.Equal(e.until)
	})
}
