package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
)

// The real store must satisfy Store.
var _ Store = (*store.Store)(nil)

// memStore is an in-memory Store for tests.
type memStore struct {
	mu      sync.Mutex
	m       map[string]boot.Credential
	touches int
	fail    error // returned by every call when set
}

func newMemStore() *memStore { return &memStore{m: map[string]boot.Credential{}} }

func (s *memStore) PutCredential(_ context.Context, c boot.Credential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[c.ID] = c
	return nil
}

func (s *memStore) Credential(_ context.Context, id string) (boot.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return boot.Credential{}, s.fail
	}
	c, ok := s.m[id]
	if !ok {
		return c, fmt.Errorf("credential %s: %w", id, boot.ErrNotFound)
	}
	return c, nil
}

func (s *memStore) Credentials(context.Context) ([]boot.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var cs []boot.Credential
	for _, c := range s.m {
		cs = append(cs, c)
	}
	return cs, nil
}

func (s *memStore) DeleteCredential(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if _, ok := s.m[id]; !ok {
		return fmt.Errorf("credential %s: %w", id, boot.ErrNotFound)
	}
	delete(s.m, id)
	return nil
}

func (s *memStore) TouchCredential(_ context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[id]
	if !ok {
		return fmt.Errorf("credential %s: %w", id, boot.ErrNotFound)
	}
	c.LastUsed = now
	s.m[id] = c
	s.touches++
	return nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var testKey = bytes.Repeat([]byte{7}, KeySize)

// testKeyring is an in-memory keyring whose version 1 is testKey.
func testKeyring(t testing.TB) *Keyring {
	t.Helper()
	kr, err := NewKeyring(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// fixture is an Authenticator over a memStore with one OVH credential and
// one token, a fixed clock and a log buffer.
type fixture struct {
	a     *Authenticator
	keys  *Keyring
	st    *memStore
	clock *fakeClock
	logs  *bytes.Buffer
	ovh   Issued
	token Issued
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{st: newMemStore(), keys: testKeyring(t), clock: &fakeClock{now: time.Unix(1_700_000_000, 0)}, logs: &bytes.Buffer{}}
	opts.Now = f.clock.Now
	opts.Logger = slog.New(slog.NewTextHandler(syncWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(f.st, f.keys, opts)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	f.a = a
	ctx := context.Background()
	if f.ovh, err = IssueOVH(ctx, f.st, f.keys, "script", Grant{}, f.clock.Now()); err != nil {
		t.Fatalf("IssueOVH() = %v", err)
	}
	if f.token, err = IssueToken(ctx, f.st, "cli", Grant{}, f.clock.Now()); err != nil {
		t.Fatalf("IssueToken() = %v", err)
	}
	return f
}

type syncWriter struct{ w *bytes.Buffer }

var logMu sync.Mutex

func (s syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return s.w.Write(p)
}

// signed builds a request signed the way OVH clients sign.
type signed struct {
	method, url, body  string
	appKey, secret, ck string
	ts                 int64
	remote             string
}

func (s signed) request() *http.Request {
	r := httptest.NewRequest(s.method, s.url, bytes.NewReader([]byte(s.body)))
	if s.remote != "" {
		r.RemoteAddr = s.remote
	}
	tsStr := strconv.FormatInt(s.ts, 10)
	r.Header.Set("X-Ovh-Application", s.appKey)
	r.Header.Set("X-Ovh-Consumer", s.ck)
	r.Header.Set("X-Ovh-Timestamp", tsStr)
	r.Header.Set("X-Ovh-Signature", FormatSignature(Signature(s.secret, s.ck, s.method, s.url, []byte(s.body), tsStr)))
	return r
}

func (f *fixture) sign(method, url, body string) signed {
	return signed{method: method, url: url, body: body, appKey: f.ovh.ApplicationKey, secret: f.ovh.ApplicationSecret, ck: f.ovh.ConsumerKey, ts: f.clock.Now().Unix()}
}

func (f *fixture) check(r *http.Request) (string, boot.CredentialKind, error) {
	body := new(bytes.Buffer)
	body.ReadFrom(r.Body)
	return f.a.Check(r, body.Bytes())
}

// errCode is the errorCode of an *Error, "" for nil, or "other".
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "other: " + err.Error()
}
