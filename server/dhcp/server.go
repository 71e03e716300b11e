package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/byoi/byoi/boot"
)

// Store is what the server needs from byoi's store: the lease table and
// fixed addresses of registered machines.
type Store interface {
	Leases(ctx context.Context) ([]boot.Lease, error)
	PutLease(ctx context.Context, l boot.Lease) error
	DeleteLease(ctx context.Context, mac string) error
	// MachineByMAC returns an error wrapping boot.ErrNotFound for an
	// unknown MAC; any other error means the store is broken.
	MachineByMAC(ctx context.Context, mac string) (boot.Machine, error)
}

// machineLister is optional: a store that lists machines lets the pool
// skip addresses fixed for other machines.
type machineLister interface {
	Machines(ctx context.Context) ([]boot.Machine, error)
}

// Server answers DHCP requests. It is safe for concurrent use.
type Server struct {
	cfg     Config
	store   Store
	log     *slog.Logger
	packets *prometheus.CounterVec
	now     func() time.Time

	mu     sync.Mutex
	loaded bool
	pool   *leaseTable
	parked []*parkedDiscover // DISCOVERs waiting for a freed address, oldest first
}

// New checks cfg and returns a server. Full mode needs a store; proxy and
// off modes ignore it.
func New(cfg Config, st Store) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Mode == ModeFull && st == nil {
		return nil, errors.New("dhcp full mode needs a lease store")
	}
	if cfg.KnownOnly && st == nil {
		return nil, errors.New("dhcp: answering known machines only needs a store")
	}
	s := &Server{cfg: cfg, store: st, log: cfg.Logger, now: time.Now}
	if cfg.Mode == ModeFull {
		s.pool = newLeaseTable(cfg.PoolStart, cfg.PoolEnd)
	}
	if cfg.Registerer != nil {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "byoi_dhcp_packets_total",
			Help: "DHCP packets received, by message type and outcome.",
		}, []string{"type", "outcome"})
		if err := cfg.Registerer.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("register dhcp metrics: %w", err)
			}
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("register dhcp metrics: %w", err)
			}
			c = existing
		}
		s.packets = c
	}
	return s, nil
}

// Config returns the server's configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// count records one packet in byoi_dhcp_packets_total.
func (s *Server) count(typ, outcome string) {
	if s.packets != nil {
		s.packets.WithLabelValues(typ, outcome).Inc()
	}
}

// ensureLoaded reads the persisted leases once; it retries on the next
// packet if the store fails. Callers hold s.mu.
func (s *Server) ensureLoaded(ctx context.Context) error {
	if s.loaded {
		return nil
	}
	leases, err := s.store.Leases(ctx)
	if err != nil {
		return fmt.Errorf("load dhcp leases: %w", err)
	}
	for _, l := range leases {
		if err := s.pool.load(l); err != nil {
			s.log.Warn("dhcp: skipping stored lease", "mac", l.MAC, "ip", l.IP, "err", err)
		}
	}
	s.loaded = true
	s.log.Info("dhcp: leases loaded", "count", len(leases))
	return nil
}

// LoadLeases reads the persisted lease table now instead of on the first
// packet, so that a broken store shows at start-up. Full mode only.
func (s *Server) LoadLeases(ctx context.Context) error {
	if s.cfg.Mode != ModeFull {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ensureLoaded(ctx)
}
