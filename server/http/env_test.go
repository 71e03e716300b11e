package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Canaries planted in secret fields; they must never show up in a
// response body or a log line.
const (
	canaryHeader   = "Basic Q0FOQVJZLWhlYWRlci1zZWNyZXQ="
	canaryUserData = "#cloud-config\npassword: CANARY-userdata-secret\n"
)

// forbiddenErr carries its own status, as the auth helper's errors do.
type forbiddenErr struct{}

func (forbiddenErr) Error() string   { return "This credential is not valid" }
func (forbiddenErr) HTTPStatus() int { return nethttp.StatusForbidden }

// fakeAuth accepts "Bearer good", refuses "Bearer forbidden" with 403 and
// anything else with a plain error (401). It records the bodies it saw.
type fakeAuth struct {
	mu     sync.Mutex
	bodies []string
}

func (a *fakeAuth) CheckHeaders(r *nethttp.Request) error {
	_, err := a.check(r)
	return err
}

func (a *fakeAuth) Authenticate(r *nethttp.Request, body []byte) (Principal, error) {
	a.mu.Lock()
	a.bodies = append(a.bodies, string(body))
	a.mu.Unlock()
	return a.check(r)
}

func (a *fakeAuth) check(r *nethttp.Request) (Principal, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer good":
		return Principal{CredentialID: "cred-1", Kind: boot.CredentialToken}, nil
	case "Bearer forbidden":
		return Principal{}, forbiddenErr{}
	}
	return Principal{}, errors.New("Invalid credentials")
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	t      *testing.T
	path   string
	files  string
	st     *store.Store
	srv    *Server
	auth   *fakeAuth
	logs   *syncBuffer
	mu     sync.Mutex
	now    time.Time
	bodies []string // every response body, for the redaction check
	cfg    Config
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, mod ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, path: filepath.Join(dir, "byoi.db"), files: t.TempDir(), auth: &fakeAuth{}, logs: &syncBuffer{}, now: t0}
	e.cfg = Config{
		BaseURL: "http://198.51.100.1:8080", FilesDir: e.files, Auth: e.auth,
		ExtraKernelArgs: []string{"console=ttyS0"},
		Logger:          slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:             e.clock,
	}
	for _, f := range mod {
		f(&e.cfg)
	}
	e.open()
	t.Cleanup(func() { e.st.Close() })
	return e
}

// open (re)opens the store and builds a new server over it.
func (e *env) open() {
	e.t.Helper()
	st, err := store.Open(e.path, store.Options{})
	if err != nil {
		e.t.Fatalf("store.Open() = %v", err)
	}
	e.st = st
	cfg := e.cfg
	cfg.Registerer = prometheus.NewRegistry()
	srv, err := New(cfg, st)
	if err != nil {
		e.t.Fatalf("New() = %v", err)
	}
	e.srv = srv
}

// restart closes the store and starts over on the same file.
func (e *env) restart() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatalf("Close() = %v", err)
	}
	e.open()
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// do sends a request; auth is the Authorization header ("" for none).
func (e *env) do(method, path, auth, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, req)
	e.mu.Lock()
	e.bodies = append(e.bodies, w.Body.String())
	e.mu.Unlock()
	return w
}

// api sends an authenticated request and checks the status.
func (e *env) api(method, path, body string, want int) *httptest.ResponseRecorder {
	e.t.Helper()
	w := e.do(method, path, "Bearer good", body)
	if w.Code != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, w.Code, w.Body.String(), want)
	}
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", w.Body.String(), err)
	}
	return v
}

// addMachine registers a machine directly in the store.
func (e *env) addMachine(m boot.Machine) boot.Machine {
	e.t.Helper()
	m, err := e.st.CreateMachine(context.Background(), m)
	if err != nil {
		e.t.Fatalf("CreateMachine(%s) = %v", m.Name, err)
	}
	return m
}

// apiErr decodes an OVH-shaped error body.
func apiErr(t *testing.T, w *httptest.ResponseRecorder) apiError {
	t.Helper()
	return decode[apiError](t, w)
}

const validReinstall = `{"operatingSystem":"byoi_64","customizations":{"imageURL":"https://img.example/debian.raw","imageType":"raw"}}`
