package auth

import (
	"sync"
	"time"
)

// failureLimiter is a token bucket per key (a remote address or an
// application key) that only failed authentications drain: each failure
// takes one token, tokens come back at rate per second up to burst, and a
// key with less than one token is refused until it has one again. Honest
// clients, which rarely fail, never notice it; a brute-force attempt is
// slowed to rate guesses per second. Memory is bounded by max keys.
type failureLimiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newFailureLimiter(rate float64, burst, max int) *failureLimiter {
	return &failureLimiter{rate: rate, burst: float64(burst), max: max, buckets: map[string]*bucket{}}
}

// refill brings b up to date at now.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Seconds() * l.rate
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
	}
	b.last = now
}

// wait returns 0 when key may try now, else how long until it may.
func (l *failureLimiter) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// fail records one failed attempt by key.
func (l *failureLimiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	b.tokens--
	if b.tokens < 0 {
		b.tokens = 0
	}
}

// evict drops buckets that have refilled completely (they carry no
// information); if none has, it drops an arbitrary one so memory stays
// bounded even under a flood of distinct keys.
func (l *failureLimiter) evict(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	for k := range l.buckets {
		delete(l.buckets, k)
		return
	}
}

// size is the number of keys tracked (for tests).
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
