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
	"sync/atomic"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/server/power"
	"github.com/byoi/byoi/store"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by Config.
const (
	DefaultKernelName   = "vmlinuz"
	DefaultInitrdName   = "initrd.img"
	DefaultToolsName    = "tools.img"
	DefaultRescueName   = "rescue.img"
	DefaultMaxBodyBytes = 1 << 20
	// DefaultBodiesInFlight and DefaultBodyTimeout bound what request
	// bodies may hold: see body.go.
	DefaultBodiesInFlight = 16
	DefaultBodyTimeout    = 10 * time.Second
	DefaultEventsShown    = 20
)

// Authenticator checks the credentials of an API request.
type Authenticator interface {
	// CheckHeaders decides from the headers alone whether the request's
	// body is worth reading: nil only for a credential that exists and may
	// make the call. Errors answer as Authenticate's do.
	CheckHeaders(r *nethttp.Request) error
	// Authenticate checks a request whose body was already read (and
	// size-limited) into body. An error that has a method HTTPStatus() int
	// answers with that status, else 401.
	Authenticate(r *nethttp.Request, body []byte) (Principal, error)
}

// Principal is who made an authenticated request: never a secret.
type Principal struct {
	CredentialID string
	Kind         boot.CredentialKind
	Name         string            // the credential's name
	Rules        []boot.AccessRule // what it may call; none: everything
	Expires      time.Time         // zero: never
}

// PowerControl is byoi's power control (server/powerctl): machines' BMC
// settings, power actions, their state, and the reboots the lifecycle asks
// for. Without it nothing is rebooted and the API reports the power state
// byoi last saw.
type PowerControl interface {
	lifecycle.Power
	// Configure stores a machine's BMC settings (the password sealed).
	Configure(ctx context.Context, name string, pc power.Config) (boot.Machine, error)
	// Do runs one power action now.
	Do(ctx context.Context, name string, a power.Action) (power.State, error)
	// State asks the BMC; power.ErrNoDriver when the machine has none.
	State(ctx context.Context, m boot.Machine) (power.State, error)
}

// BootNetwork is what byoi's DHCP hands out, for network_data.json.
type BootNetwork struct {
	FullDHCP bool
	Prefix   int
	Router   string
	DNS      []string
}

// Site is where the machines are, as OVH's dedicated.server.Dedicated
// shows it; a machine's own fields override it.
type Site struct {
	Datacenter, Rack, Region, AvailabilityZone string
}

// Defaults of Site.
const (
	DefaultDatacenter       = "lab"
	DefaultRegion           = "lab"
	DefaultAvailabilityZone = "lab-a"
	DefaultAccount          = "byoi"
)

// Config configures the server. The zero value works: no base URL means
// "the Host the request came to", no Auth refuses every API call.
type Config struct {
	// BaseURL is how machines reach this server, e.g.
	// "http://198.51.100.1:8080"; empty: derived from each request's Host.
	BaseURL string
	// FilesDir holds the iPXE binaries and the installer kernel and initrd,
	// served read-only under /files/. Empty: no files are served.
	FilesDir string
	// KernelName and InitrdName are the installer's files in FilesDir;
	// ToolsName and RescueName the initrd layers the rescue system adds.
	KernelName, InitrdName, ToolsName, RescueName string
	// ExtraKernelArgs are appended to the installer's command line.
	ExtraKernelArgs []string
	Logger          *slog.Logger
	// Registerer receives the metrics; if it is also a prometheus.Gatherer
	// (a *prometheus.Registry is), /metrics serves it. Nil: a private registry.
	Registerer prometheus.Registerer
	Auth       Authenticator
	// Credentials serves /api/v1/credentials (after authentication).
	Credentials nethttp.Handler
	// Keys serves /api/v1/keys, the server key's versions and rotation
	// (after authentication).
	Keys nethttp.Handler
	// Site locates the machines in GET /1.0/dedicated/server/{name}; empty
	// fields: DefaultDatacenter, DefaultRegion, DefaultAvailabilityZone and
	// no rack.
	Site Site
	// Power reports machines' power state; nil: what byoi last saw.
	Power PowerControl
	// Account is the account name GET /1.0/me and /1.0/auth/details show;
	// empty: DefaultAccount.
	Account string
	// APIURL is where the operator APIs are served when ServeSplit keeps
	// them off the plain listener, for the pointer in its refusals, e.g.
	// "https://byoi.lab:8443".
	APIURL string
	Now    func() time.Time
	// MaxBodyBytes limits request bodies; larger ones get 413.
	MaxBodyBytes int64
	// BodiesInFlight is how many request bodies are read at once at most;
	// 0: DefaultBodiesInFlight.
	BodiesInFlight int
	// BodyTimeout is how long a request body may take to arrive; 0:
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// EventsShown is how many recent events GET /api/v1/machines/{name} shows.
	EventsShown int
	// InstallerTimeout is how long a task in doing may go without a report
	// from its installer before the lifecycle's watchdog ends it in
	// ovhError. 0: lifecycle.DefaultInstallerTimeout.
	InstallerTimeout time.Duration
	// Network describes the boot network for the config drive's
	// network_data.json: with FullDHCP, a machine with a fixed IPv4 gets it
	// as a static address (Prefix, Router, DNS); otherwise DHCP.
	Network BootNetwork
	// MachinesChanged, if set, is called after an operator added, changed
	// or deleted a machine (byoi's DHCP refreshes its fixed addresses).
	MachinesChanged func()
	// Discovery bounds how fast one source may create discovered machines.
	Discovery lifecycle.DiscoveryLimit
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
	if c.ToolsName == "" {
		c.ToolsName = DefaultToolsName
	}
	if c.RescueName == "" {
		c.RescueName = DefaultRescueName
	}
	for _, n := range []string{c.KernelName, c.InitrdName, c.ToolsName, c.RescueName} {
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
	if c.BodiesInFlight <= 0 {
		c.BodiesInFlight = DefaultBodiesInFlight
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.Site.Datacenter == "" {
		c.Site.Datacenter = DefaultDatacenter
	}
	if c.Site.Region == "" {
		c.Site.Region = DefaultRegion
	}
	if c.Site.AvailabilityZone == "" {
		c.Site.AvailabilityZone = DefaultAvailabilityZone
	}
	for _, f := range []struct{ name, v string }{
		{"datacenter", c.Site.Datacenter}, {"rack", c.Site.Rack}, {"region", c.Site.Region}, {"availabilityZone", c.Site.AvailabilityZone},
	} {
		if err := boot.ValidateLocation(f.name, f.v); err != nil {
			return err
		}
	}
	if c.Account == "" {
		c.Account = DefaultAccount
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
	router  *mux.Router
	bodies  chan struct{} // a slot per request body being read

	bodyBytes atomic.Int64 // body buffer bytes since the last hand-back (body.go)
	freeing   atomic.Bool  // a hand-back is pending
}

// New checks cfg and builds the server over st.
func New(cfg Config, st *store.Store) (*Server, error) {
	if st == nil {
		return nil, errors.New("http server: nil store")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("http server: %w", err)
	}
	s := &Server{cfg: cfg, st: st, log: cfg.Logger, bodies: make(chan struct{}, cfg.BodiesInFlight)}
	m, err := newMetrics(cfg.Registerer, st)
	if err != nil {
		return nil, fmt.Errorf("http server: %w", err)
	}
	s.metrics = m
	s.lc = lifecycle.New(st, lifecycle.Config{
		InstallerTimeout: cfg.InstallerTimeout, Now: cfg.Now, Logger: cfg.Logger, Discovery: cfg.Discovery, Power: lifecyclePower(cfg.Power),
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
	s.router = s.routes(ui)
	return s, nil
}

// Handler returns the server's routes, for tests and embedding.
func (s *Server) Handler() nethttp.Handler { return s.router }

// Serve answers every route on l until ctx ends, then shuts down
// gracefully (waiting up to five seconds for requests in flight). It
// returns nil when stopped by ctx. It also runs the lifecycle's installer
// watchdog.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.serve(ctx, []servedListener{{l, s.router}})
}

// ServeSplit answers on two listeners until ctx ends: plain serves only
// what firmware, iPXE and the installer need (the boot plane and the agent
// API, plain HTTP), api serves every route — wrap it with tls.NewListener
// to serve the operator APIs over HTTPS. The operator APIs asked for on
// plain get a 403 that points at Config.APIURL, so that no credential is
// ever accepted in clear there.
func (s *Server) ServeSplit(ctx context.Context, plain, api net.Listener) error {
	return s.serve(ctx, []servedListener{{plain, s.bootPlaneOnly(s.router)}, {api, s.router}})
}

type servedListener struct {
	l net.Listener
	h nethttp.Handler
}

func (s *Server) serve(ctx context.Context, ls []servedListener) error {
	wctx, stopWatchdog := context.WithCancel(ctx)
	watchdogDone := make(chan struct{})
	go func() {
		defer close(watchdogDone)
		s.lc.Run(wctx)
	}()
	defer func() { stopWatchdog(); <-watchdogDone }() // the store may be closed right after
	servers := make([]*nethttp.Server, len(ls))
	errc := make(chan error, len(ls))
	for i, sl := range ls {
		hs := &nethttp.Server{
			Handler:           s.bodyDeadline(sl.h),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return ctx },
		}
		servers[i] = hs
		go func() { errc <- hs.Serve(sl.l) }()
	}
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("http serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range servers {
		if serr := hs.Shutdown(sctx); serr != nil {
			hs.Close()
		}
	}
	for range len(servers) - btoi(err != nil) {
		<-errc
	}
	return err
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// bootPlaneOnly answers the boot plane and the agent API with h and
// refuses every other path with a pointer to the API listener.
func (s *Server) bootPlaneOnly(h nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if isBootPlanePath(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		s.requestLog(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			msg := "The API is not served on this listener (plain HTTP, for firmware and installers only)"
			if s.cfg.APIURL != "" {
				msg = fmt.Sprintf("The API is not served over plain HTTP on this server: use %s", s.cfg.APIURL)
			}
			writeError(w, nethttp.StatusForbidden, msg)
		})).ServeHTTP(w, r)
	})
}

// isBootPlanePath reports whether p is served to machines on the plain
// listener: iPXE scripts, boot files, the installer's agent API.
func isBootPlanePath(p string) bool {
	if p == "/boot.ipxe" || p == "/ipxe/machine" {
		return true
	}
	for _, prefix := range []string{"/files/", "/agent/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// ovhPrefixes are the paths OVH serves its API under; byoi serves the
// same routes under both.
var ovhPrefixes = []string{"/1.0", "/v1"}

func (s *Server) routes(ui nethttp.Handler) *mux.Router {
	r := mux.NewRouter()
	r.Use(s.requestLog, s.metrics.middleware)
	r.NotFoundHandler = s.requestLog(s.metrics.wrapUnmatched(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		writeError(w, nethttp.StatusNotFound, "Got an invalid (or empty) URL")
	})))
	r.MethodNotAllowedHandler = s.requestLog(s.metrics.wrapUnmatched(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		writeError(w, nethttp.StatusMethodNotAllowed, "Method not allowed on this URL")
	})))

	// Public: the boot plane and the clock. Everything else, docs and
	// metrics included, needs credentials (see SECURITY.md).
	r.HandleFunc("/boot.ipxe", s.handleBootstrap).Methods(nethttp.MethodGet, nethttp.MethodHead)
	r.HandleFunc("/ipxe/machine", s.handleMachineScript).Methods(nethttp.MethodGet)
	r.HandleFunc(filesRoute, s.handleFile).Methods(nethttp.MethodGet, nethttp.MethodHead)
	r.Handle("/api/v1/openapi.json", s.authed(delegate(nethttp.HandlerFunc(handleOpenAPI)))).Methods(nethttp.MethodGet)
	r.Handle("/metrics", s.authed(delegate(s.metrics.handler()))).Methods(nethttp.MethodGet)

	s.agentRoutes(r)
	for _, prefix := range ovhPrefixes {
		r.HandleFunc(prefix+"/auth/time", s.handleAuthTime).Methods(nethttp.MethodGet)
		s.ovhRoutes(r.PathPrefix(prefix).Subrouter())
	}
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

// lifecyclePower keeps a nil PowerControl a nil lifecycle.Power.
func lifecyclePower(p PowerControl) lifecycle.Power {
	if p == nil {
		return nil
	}
	return p
}

func (s *Server) machinesChanged() {
	if s.cfg.MachinesChanged != nil {
		s.cfg.MachinesChanged()
	}
}
