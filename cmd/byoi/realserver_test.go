package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/server/auth"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/byoi/byoi/store"
)

// realServer is byoi's real HTTP server over a real store and the real
// authenticator, on loopback, with the state dir a local server would
// have (store, admin token).
type realServer struct {
	url, stateDir, token string
	st                   *store.Store
	srv                  *byoihttp.Server
	http                 *httptest.Server
}

func newRealServer(t *testing.T) *realServer {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, storeFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := auth.NewKeyring(bytes.Repeat([]byte{7}, auth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(st, kr, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokenPath := filepath.Join(dir, auth.AdminTokenFile)
	if _, err := auth.Bootstrap(context.Background(), st, tokenPath); err != nil {
		t.Fatal(err)
	}
	token, err := auth.ReadTokenFile(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := byoihttp.New(byoihttp.Config{Auth: authAdapter{a}, Credentials: a.Credentials(), FilesDir: t.TempDir()}, st)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); st.Close() })
	return &realServer{url: hs.URL, stateDir: dir, token: token, st: st, srv: srv, http: hs}
}

// run runs the CLI against the server with its token.
func (r *realServer) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"byoi"}, args...)
	if len(args) > 0 && args[0] != "backup" && args[0] != "login" {
		full = append(full, "--server", r.url, "--token", r.token)
	}
	err := run(context.Background(), full, &out, &errOut)
	if s := strings.TrimSpace(errOut.String()); s != "" {
		t.Logf("stderr of byoi %s:\n%s", strings.Join(args, " "), s)
	}
	return out.String(), err
}

// syncWriter is an io.Writer safe for a command running in a goroutine
// while the test reads what it wrote.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// listenAgain listens on addr again once its previous listener is closed.
func listenAgain(t *testing.T, addr string) net.Listener {
	t.Helper()
	for i := 0; ; i++ {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			return l
		}
		if i == 50 {
			t.Fatalf("listen %s again: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpServer serves a handler on a listener until closed.
type httpServer struct{ hs *http.Server }

func (s *httpServer) serve(l net.Listener, h http.Handler) {
	s.hs = &http.Server{Handler: h}
	go s.hs.Serve(l)
}

func (s *httpServer) close() { s.hs.Close() }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
