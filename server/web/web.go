package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/byoi/byoi/boot"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the UI is served.
const Prefix = "/ui/"

// Store is what the UI reads. Task writes never go through it: actions
// call the Lifecycle.
type Store interface {
	Reader
	Machine(ctx context.Context, name string) (boot.Machine, error)
	Task(ctx context.Context, id int64) (boot.Task, error)
	Events(ctx context.Context, machine string, limit int) ([]boot.Event, error)
	RecentTasks(ctx context.Context, limit int, keep func(boot.Task) bool) ([]boot.Task, error)
}

// Lifecycle is the owner of tasks, for the UI's actions.
type Lifecycle interface {
	Create(ctx context.Context, name string, spec boot.InstallSpec, function string) (boot.Task, error)
	Cancel(ctx context.Context, id int64, why string) (boot.Task, error)
}

// Authenticate checks an API token on behalf of request r and returns who
// it is (a credential name or ID, for the log) or an error.
type Authenticate func(r *http.Request, token string) (who string, err error)

// Config configures the UI. The zero value works but refuses every login
// (no Auth).
type Config struct {
	Auth Authenticate
	// Power, when set, shows machines' power state and offers PowerActions.
	Power PowerControl
	// ErrorText phrases an error of the store or lifecycle for the
	// operator; nil: err.Error().
	ErrorText func(error) string
	// SecureCookies marks cookies Secure even on a plain request (byoi
	// behind a TLS proxy); requests over TLS always get Secure cookies.
	SecureCookies bool
	// SessionTTL is how long a session lasts without use; 0: 12 hours.
	SessionTTL time.Duration
	// Refresh is how often live pages look for changes; 0: one second.
	Refresh time.Duration
	// EventsShown is how many recent events the machine page shows; 0: 50.
	EventsShown int
	Logger      *slog.Logger
	Now         func() time.Time
}

// Function is the task function the UI's deployments get.
const Function = "reinstallServer"

// UI serves the web UI.
type UI struct {
	cfg      Config
	st       Store
	lc       Lifecycle
	log      *slog.Logger
	tmpl     *template.Template
	sessions *sessions
	mux      *http.ServeMux
}

// New builds the UI over st (reads) and lc (actions).
func New(cfg Config, st Store, lc Lifecycle) (*UI, error) {
	if st == nil || lc == nil {
		return nil, errors.New("web: nil store or lifecycle")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	if cfg.EventsShown <= 0 {
		cfg.EventsShown = 50
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ErrorText == nil {
		cfg.ErrorText = func(err error) string { return err.Error() }
	}
	tmpl, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	u := &UI{cfg: cfg, st: st, lc: lc, log: cfg.Logger, tmpl: tmpl, sessions: newSessions(cfg.SessionTTL, cfg.Now)}
	u.routes()
	return u, nil
}

func (u *UI) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServer(http.FS(static))))
	m.HandleFunc("GET /ui/login", u.loginPage)
	m.HandleFunc("POST /ui/login", u.login)
	m.HandleFunc("POST /ui/logout", u.authed(u.logout))
	m.HandleFunc("GET /ui/{$}", u.authed(u.fleetPage))
	m.HandleFunc("GET /ui/tasks", u.authed(u.tasksPage))
	m.HandleFunc("GET /ui/machines/{name}", u.authed(u.machinePage))
	m.HandleFunc("GET /ui/machines/{name}/deploy", u.authed(u.deployForm))
	m.HandleFunc("POST /ui/machines/{name}/deploy", u.authed(u.csrf(u.deploy)))
	m.HandleFunc("GET /ui/tasks/{id}/cancel", u.authed(u.cancelForm))
	m.HandleFunc("POST /ui/tasks/{id}/cancel", u.authed(u.csrf(u.cancel)))
	m.HandleFunc("GET /ui/machines/{name}/power/{action}", u.authed(u.powerForm))
	m.HandleFunc("POST /ui/machines/{name}/power/{action}", u.authed(u.csrf(u.power)))
	m.HandleFunc("GET /ui/events", u.authed(u.events))
	u.mux = m
}

// ServeHTTP serves the UI's routes, with the security headers every page
// gets.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes browsers send Origin: null with form posts
	if r.URL.Path != "/ui/events" && !isStatic(r) {
		h.Set("Cache-Control", "no-store")
	}
	u.mux.ServeHTTP(w, r)
}

func isStatic(r *http.Request) bool {
	return len(r.URL.Path) > len("/ui/static/") && r.URL.Path[:len("/ui/static/")] == "/ui/static/"
}

// render writes page (a template) with data, or a 500 on a template error
// (a bug; the half-rendered page is never sent).
func (u *UI) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bufWriter
	if err := u.tmpl.ExecuteTemplate(&buf, page, data); err != nil {
		u.log.Error("web: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.b)
}

type bufWriter struct{ b []byte }

func (b *bufWriter) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }
