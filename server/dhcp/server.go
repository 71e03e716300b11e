package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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

// Server answers DHCP requests. It is safe for concurrent use.
type Server struct {
	cfg      Config
	store    Store
	log      *slog.Logger
	packets  *prometheus.CounterVec
	now      func() time.Time
	parkTime time.Duration // how long a DISCOVER waits for a freed address

	// mu guards the fields below it. A function that says "callers hold
	// s.mu" never releases it; store calls run without it.
	mu         sync.Mutex
	pool       *leaseTable
	fixed      *fixedIndex
	fixedStale bool
	parked     []*parkedDiscover // DISCOVERs waiting for a freed address, oldest first

	refreshMu sync.Mutex  // one rebuild of the fixed index at a time
	loadMu    sync.Mutex  // one load of the persisted leases
	loaded    atomic.Bool // the persisted leases are in pool
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
	s := &Server{cfg: cfg, store: st, log: cfg.Logger, now: time.Now, parkTime: parkTime}
	if cfg.Mode == ModeFull {
		s.pool = newLeaseTable(cfg.PoolStart, cfg.PoolEnd, staticReserved(cfg))
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

// staticReserved are the addresses of the served subnet that no client
// gets: the server's, the router's, the network and broadcast addresses.
func staticReserved(cfg Config) map[uint32]bool {
	network := ipToU32(cfg.ServerIP.Mask(cfg.Netmask))
	r := map[uint32]bool{
		ipToU32(cfg.ServerIP):                   true,
		network:                                 true,
		network | ^ipToU32(net.IP(cfg.Netmask)): true,
	}
	if cfg.Router != nil {
		r[ipToU32(cfg.Router)] = true
	}
	return r
}

// ensureLoaded reads the persisted leases once; it retries on the next
// packet if the store fails. Packets wait (on loadMu) until the table is
// loaded; the store is read without s.mu.
func (s *Server) ensureLoaded(ctx context.Context) error {
	if s.loaded.Load() {
		return nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded.Load() {
		return nil
	}
	leases, err := s.store.Leases(ctx)
	if err != nil {
		return fmt.Errorf("load dhcp leases: %w", err)
	}
	s.mu.Lock()
	for _, l := range leases {
		if err := s.pool.load(l); err != nil {
			s.log.Warn("dhcp: skipping stored lease", "mac", l.MAC, "ip", l.IP, "err", err)
		}
	}
	s.mu.Unlock()
	s.loaded.Store(true)
	s.log.Info("dhcp: leases loaded", "count", len(leases))
	return nil
}

// LoadLeases reads the persisted lease table now instead of on the first
// packet, so that a broken store shows at start-up. Full mode only.
func (s *Server) LoadLeases(ctx context.Context) error {
	if s.cfg.Mode != ModeFull {
		return nil
	}
	if err := s.ensureLoaded(ctx); err != nil {
		return err
	}
	if lister, ok := s.store.(machineLister); ok {
		return s.refreshFixed(ctx, lister)
	}
	return nil
}
