package auth

import (
	"sync"
	"time"
)

// replayCache remembers every accepted OVH signature, with the remote
// address that first sent it, until the timestamp it signs has left the
// clock-skew window. The same signed request is accepted again from that
// address (a client's quick retry, or two polls within a second, repeat the
// very same signature and must be processed like any request) and refused
// from any other (someone who captured it). Entries expire in insertion
// order (each lives ttl from its acceptance), so a FIFO queue finds the
// expired ones without a scan. At most max signatures are remembered; when
// full, new signed requests are refused (429) rather than forgetting a live
// signature.
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
	replayRepeat                        // the same request again from the same address
	replayRejected                      // the same request from another address
	replayFull                          // cache full: refuse for now
)

func newReplayCache(ttl time.Duration, max int) *replayCache {
	return &replayCache{ttl: ttl, max: max, seen: map[[20]byte]seenSig{}}
}

// use records a use of sig from addr at now: accepted from the address
// that first used it, refused from any other.
func (c *replayCache) use(sig [20]byte, addr string, now time.Time) replayVerdict {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if s, ok := c.seen[sig]; ok {
		if s.addr == addr {
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
