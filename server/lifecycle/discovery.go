package lifecycle

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DiscoveryLimit bounds how fast one source address makes byoi record new
// discovered machines. A real PXE client boots a few times a minute; a host
// flooding the boot network with random MACs is held to Rate per second
// after a burst, and the store's cap on discovered machines bounds the
// rest. Known machines are never limited.
type DiscoveryLimit struct {
	// Rate is new machines per second per source; 0: 1.
	Rate float64
	// Burst is how many may come at once; 0: 20.
	Burst int
	// Sources is how many source addresses are tracked at once; beyond it
	// the least recently seen is forgotten. 0: 4096.
	Sources int
}

func (d *DiscoveryLimit) setDefaults() {
	if d.Rate <= 0 {
		d.Rate = 1
	}
	if d.Burst <= 0 {
		d.Burst = 20
	}
	if d.Sources <= 0 {
		d.Sources = 4096
	}
}

// sourceLimiter is a token bucket per source address, with bounded memory.
type sourceLimiter struct {
	cfg DiscoveryLimit

	mu      sync.Mutex
	buckets map[string]*sourceBucket
}

type sourceBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newSourceLimiter(cfg DiscoveryLimit) *sourceLimiter {
	return &sourceLimiter{cfg: cfg, buckets: map[string]*sourceBucket{}}
}

// allow takes one token from source's bucket at now.
func (s *sourceLimiter) allow(source string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buckets[source]
	if !ok {
		if len(s.buckets) >= s.cfg.Sources {
			s.forgetOldest()
		}
		b = &sourceBucket{lim: rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Burst)}
		s.buckets[source] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// forgetOldest drops the least recently seen source. A forgotten source
// starts again with a full burst, which the store's cap still bounds.
func (s *sourceLimiter) forgetOldest() {
	var oldest string
	var at time.Time
	for k, b := range s.buckets {
		if oldest == "" || b.seen.Before(at) {
			oldest, at = k, b.seen
		}
	}
	delete(s.buckets, oldest)
}
