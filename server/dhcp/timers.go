package dhcp

import (
	"container/heap"
	"time"
)

// timerKind says what a timer ends.
type timerKind uint8

const (
	timerOffer timerKind = iota
	timerDecline
	timerLease
)

// timer is the end of an offer, a decline or a lease. Timers are never
// removed when what they time changes: whoever pops one checks that it
// still matches the table (a renewed lease has a later timer of its own).
type timer struct {
	until time.Time
	ip    uint32
	mac   string
	kind  timerKind
}

// timerQueues orders the lease table's timers: a heap of every pending
// end, and the leases that ran out, oldest first, waiting to be reused.
type timerQueues struct {
	pending timerHeap
	expired []timer
}

func (q *timerQueues) addOffer(mac string, ip uint32, until time.Time) {
	heap.Push(&q.pending, timer{until: until, ip: ip, mac: mac, kind: timerOffer})
}

func (q *timerQueues) addDecline(ip uint32, until time.Time) {
	heap.Push(&q.pending, timer{until: until, ip: ip, kind: timerDecline})
}

func (q *timerQueues) addLease(mac string, ip uint32, until time.Time) {
	heap.Push(&q.pending, timer{until: until, ip: ip, mac: mac, kind: timerLease})
}

// due pops the timers that end at or before now, earliest first.
func (q *timerQueues) due(now time.Time) []timer {
	var out []timer
	for len(q.pending) > 0 && !q.pending[0].until.After(now) {
		out = append(out, heap.Pop(&q.pending).(timer))
	}
	return out
}

// pushExpired queues a lease that ran out for reuse.
func (q *timerQueues) pushExpired(e timer) { q.expired = append(q.expired, e) }

// oldestExpired returns the address of the first queued lease that is
// still current (valid) and may be handed out (usable). Leases no longer
// current at the head of the queue are dropped; the others stay queued
// until a new lease replaces them.
func (q *timerQueues) oldestExpired(valid func(timer) bool, usable func(uint32) bool) (uint32, bool) {
	for len(q.expired) > 0 && !valid(q.expired[0]) {
		q.expired = q.expired[1:]
	}
	for _, e := range q.expired {
		if valid(e) && usable(e.ip) {
			return e.ip, true
		}
	}
	return 0, false
}

// compact drops the queued expired leases that are no longer current once
// the queue holds more than twice the leases there are: leases renewed
// after running out would otherwise pile up behind current ones.
func (q *timerQueues) compact(leases int, valid func(timer) bool) {
	if len(q.expired) <= 2*leases+64 {
		return
	}
	kept := q.expired[:0]
	for _, e := range q.expired {
		if valid(e) {
			kept = append(kept, e)
		}
	}
	q.expired = kept
}

// timerHeap is a min-heap of timers by end time (container/heap).
type timerHeap []timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if !h[i].until.Equal(h[j].until) {
		return h[i].until.Before(h[j].until)
	}
	return h[i].ip < h[j].ip
}
func (h timerHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)   { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
