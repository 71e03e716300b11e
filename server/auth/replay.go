package auth

import (
	"sync"
	"time"
)

// replayCache remembers every accepted OVH signature until the timestamp it
// signs has left the clock-skew window, so the same signed request cannot
// be accepted twice. Entries expire in insertion order (each lives ttl from
// its acceptance), so a FIFO queue finds the expired ones without a scan.
// At most max signatures are remembered; when full, new signed requests
// are refused (429) rather than forgetting a live signature.
type replayCache struct {
	ttl time.Duration
	max int

	mu    sync.Mutex
	seen  map[[20]byte]seenSig
	queue []queuedSig
	head  int
}

type seenSig struct {
	addr    string // remote address of the first use
	expires time.Time
}

type queuedSig struct {
	sig     [20]byte
	expires time.Time
}

// replayVerdict is the outcome of replayCache.use.
type replayVerdict int

const (
	replayFresh    replayVerdict = iota // first use: remembered
	replayRepeat                        // an allowed repeat (same reader, same address)
	replayRejected                      // a replay
	replayFull                          // cache full: refuse for now
)

func newReplayCache(ttl time.Duration, max int) *replayCache {
	return &replayCache{ttl: ttl, max: max, seen: map[[20]byte]seenSig{}}
}

// use records a use of sig from addr at now. A signature is accepted once;
// when allowRepeat is set (GET and HEAD, see the package comment) it is
// accepted again from the same remote address only.
func (c *replayCache) use(sig [20]byte, addr string, allowRepeat bool, now time.Time) replayVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if s, ok := c.seen[sig]; ok {
		if allowRepeat && s.addr == addr {
			return replayRepeat
		}
		return replayRejected
	}
	if len(c.seen) >= c.max {
		return replayFull
	}
	exp := now.Add(c.ttl)
	c.seen[sig] = seenSig{addr: addr, expires: exp}
	c.queue = append(c.queue, queuedSig{sig: sig, expires: exp})
	return replayFresh
}

func (c *replayCache) expire(now time.Time) {
	for c.head < len(c.queue) && !c.queue[c.head].expires.After(now) {
		delete(c.seen, c.queue[c.head].sig)
		c.queue[c.head] = queuedSig{}
		c.head++
	}
	// Compact once the dead prefix is the larger half.
	if c.head > 0 && c.head*2 >= len(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		c.queue = c.queue[:n]
		c.head = 0
	}
}

// size is the number of remembered signatures (for tests).
func (c *replayCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
