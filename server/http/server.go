// Package http is byoi's HTTP front: the boot plane machines reach without
// credentials (/boot.ipxe, the per-machine iPXE script, boot files, and
// /1.0/auth/time), the
// OVH-compatible /1.0 API, the native /api/v1 API, the installer's agent API
// and /metrics. It stores everything through the store and keeps nothing
// that matters in memory, so a restarted server carries on where it was.
//
// Wiring it up:
//
//	srv, err := http.New(http.Config{BaseURL: "http://198.51.100.1:8080", FilesDir: dir, Auth: a}, st)
//	if err != nil { return err }
//	l, _ := net.Listen("tcp", ":8080")
//	return srv.Serve(ctx, l)
package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/url"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/server/web"
	"github.com/byoi/byoi/store"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by Config.
const (
	DefaultKernelName   = "vmlinuz"
	DefaultInitrdName   = "initrd.img"
	DefaultMaxBodyBytes = 1 << 20
	DefaultEventsShown  = 20
)

// Authenticator checks the credentials of an API request.
type Authenticator interface {
	// Authenticate checks a request whose body was already read (and
	// size-limited) into body. An error that has a method HTTPStatus() int
	// answers with that status, else 401.
	Authenticate(r *nethttp.Request, body []byte) (Principal, error)
}

// Principal is who made an authenticated request.
type Principal struct {
	CredentialID string
	Kind         boot.CredentialKind
}

// Config configures the server. The zero value works: no base URL means
// "the Host the request came to", no Auth refuses every API call.
type Config struct {
	// BaseURL is how machines reach this server, e.g.
	// "http://198.51.100.1:8080"; empty: derived from each request's Host.
	BaseURL string
	// FilesDir holds the iPXE binaries and the installer kernel and initrd,
	// served read-only under /files/. Empty: no files are served.
	FilesDir string
	// KernelName and InitrdName are the installer's files in FilesDir.
	KernelName, InitrdName string
	// ExtraKernelArgs are appended to the installer's command line.
	ExtraKernelArgs []string
	Logger          *slog.Logger
	// Registerer receives the metrics; if it is also a prometheus.Gatherer
	// (a *prometheus.Registry is), /metrics serves it. Nil: a private registry.
	Registerer prometheus.Registerer
	Auth       Authenticator
	// Credentials serves /api/v1/credentials (after authentication).
	Credentials nethttp.Handler
	Now         func() time.Time
	// MaxBodyBytes limits request bodies; larger ones get 413.
	MaxBodyBytes int64
	// EventsShown is how many recent events GET /api/v1/machines/{name} shows.
	EventsShown int
	// InstallerTimeout is how long a task in doing may go without a report
	// from its installer before the lifecycle's watchdog ends it in
	// ovhError. 0: lifecycle.DefaultInstallerTimeout.
	InstallerTimeout time.Duration
	// Discovery bounds how fast one source may create discovered machines.
	Discovery lifecycle.DiscoveryLimit
	// PowerControl, when set, gives machines' power state to the machine
	// list and view and the power actions of the web UI; nil: no power
	// column (the UI shows "—").
	PowerControl web.PowerControl
	// NoUI turns the web UI (/ui/) off.
	NoUI bool
}

func (c *Config) setDefaults() error {
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return fmt.Errorf("invalid base URL %q: want http(s)://host[:port][/path]", c.BaseURL)
		}
		c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	}
	if c.KernelName == "" {
		c.KernelName = DefaultKernelName
	}
	if c.InitrdName == "" {
		c.InitrdName = DefaultInitrdName
	}
	for _, n := range []string{c.KernelName, c.InitrdName} {
		if !validFileName(n) {
			return fmt.Errorf("invalid installer file name %q: a plain file name is expected", n)
		}
	}
	for _, a := range c.ExtraKernelArgs {
		if a == "" || strings.ContainsAny(a, " \t\r\n\x00") {
			return fmt.Errorf("invalid extra kernel argument %q: one word without spaces is expected", a)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.EventsShown <= 0 {
		c.EventsShown = DefaultEventsShown
	}
	return nil
}

// Server serves byoi's HTTP routes.
type Server struct {
	cfg     Config
	st      *store.Store // machines and reads; task writes go through lc
	lc      *lifecycle.Lifecycle
	log     *slog.Logger
	metrics *metrics
	handler nethttp.Handler
}

// New checks cfg and builds the server over st.
func New(cfg Config, st *store.Store) (*Server, error) {
	if st == nil {
		return nil, errors.New("http server: nil store")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("http server: %w", err)
	}
	s := &Server{cfg: cfg, st: st, log: cfg.Logger}
	m, err := newMetrics(cfg.Registerer, st)
	if err != nil {
		return nil, fmt.Errorf("http server: %w", err)
	}
	s.metrics = m
	s.lc = lifecycle.New(st, lifecycle.Config{
		InstallerTimeout: cfg.InstallerTimeout, Now: cfg.Now, Logger: cfg.Logger, Discovery: cfg.Discovery,
		OnEnd: m.observeDuration, OnWritten: func(n int64) { m.bytesWritten.Add(float64(n)) },
	})
	if err := cfg.Registerer.Register(&droppedCollector{st: st, lc: s.lc.Limited}); err != nil {
		return nil, fmt.Errorf("http server: register metrics: %w", err)
	}
	var ui nethttp.Handler
	if !cfg.NoUI {
		if ui, err = s.newUI(); err != nil {
			return nil, fmt.Errorf("http server: %w", err)
		}
	}
	s.handler = s.routes(ui)
	return s, nil
}

// Handler returns the server's routes, for tests and embedding.
func (s *Server) Handler() nethttp.Handler { return s.handler }

// Serve answers HTTP on l until ctx ends, then shuts down gracefully
// (waiting up to five seconds for requests in flight). It returns nil when
// stopped by ctx. It also runs the lifecycle's installer watchdog.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &nethttp.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	wctx, stopWatchdog := context.WithCancel(ctx)
	watchdogDone := make(chan struct{})
	go func() {
		defer close(watchdogDone)
		s.lc.Run(wctx)
	}()
	defer func() { stopWatchdog(); <-watchdogDone }() // the store may be closed right after
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	return nil
}

func (s *Server) routes(ui nethttp.Handler) nethttp.Handler {
	r := mux.NewRouter()
	r.Use(s.metrics.middleware)
	r.NotFoundHandler = s.metrics.wrapUnmatched(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		writeError(w, nethttp.StatusNotFound, "Got an invalid (or empty) URL")
	}))
	r.MethodNotAllowedHandler = s.metrics.wrapUnmatched(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		writeError(w, nethttp.StatusMethodNotAllowed, "Method not allowed on this URL")
	}))

	// Public: the boot plane and the clock. Everything else, docs and
	// metrics included, needs credentials (see SECURITY.md).
	r.HandleFunc("/boot.ipxe", s.handleBootstrap).Methods(nethttp.MethodGet, nethttp.MethodHead)
	r.HandleFunc("/ipxe/machine", s.handleMachineScript).Methods(nethttp.MethodGet)
	r.HandleFunc(filesRoute, s.handleFile).Methods(nethttp.MethodGet, nethttp.MethodHead)
	r.HandleFunc("/1.0/auth/time", s.handleAuthTime).Methods(nethttp.MethodGet)
	r.Handle("/api/v1/openapi.json", s.authed(delegate(nethttp.HandlerFunc(handleOpenAPI)))).Methods(nethttp.MethodGet)
	r.Handle("/metrics", s.authed(delegate(s.metrics.handler()))).Methods(nethttp.MethodGet)

	s.agentRoutes(r)
	s.ovhRoutes(r.PathPrefix("/1.0").Subrouter())
	s.nativeRoutes(r.PathPrefix("/api/v1").Subrouter())
	if ui != nil {
		s.uiRoutes(r, ui) // its own logins (session cookie + CSRF), see server/web
	}
	return r
}

// baseURL is the configured base URL or the one the request came to.
func (s *Server) baseURL(r *nethttp.Request) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// CheckInstallers runs the lifecycle's watchdog once (Serve runs it
// periodically); it returns how many tasks it ended.
func (s *Server) CheckInstallers(ctx context.Context) (int, error) { return s.lc.CheckInstallers(ctx) }

// event appends a machine event, logging (not failing) on error: the
// history is a record, not a precondition.
func (s *Server) event(ctx context.Context, machine string, task int64, kind boot.EventKind, msg string) {
	_, err := s.st.AppendEvent(ctx, boot.Event{Time: s.cfg.Now(), Machine: machine, TaskID: task, Kind: kind, Message: msg})
	if err != nil {
		s.log.Error("append event", "machine", machine, "task", task, "kind", kind, "err", err)
	}
}
