// Package auth authenticates byoi's API callers and manages their
// credentials. Two schemes are accepted:
//
//   - OVH's signature scheme, so OVH scripts and the official OVH client
//     libraries work unchanged: X-Ovh-Application (application key),
//     X-Ovh-Consumer (consumer key), X-Ovh-Timestamp (unix seconds) and
//     X-Ovh-Signature = "$1$" + hex(sha1(secret+"+"+consumerKey+"+"+METHOD+
//     "+"+fullURL+"+"+body+"+"+timestamp)). fullURL is the URL the client
//     used, rebuilt from the request (scheme, Host header, request URI; the
//     X-Forwarded-Proto/-Host headers only when Options.TrustProxyHeaders).
//   - Bearer tokens ("Authorization: Bearer byoi_…") for the native API and
//     the CLI.
//
// Secrets are never stored in clear: tokens as SHA-256, OVH application
// secrets sealed with AES-256-GCM under a server key (LoadOrCreateKey),
// because checking a signature needs the secret itself.
//
// Protections, all in memory and bounded:
//   - a timestamp must be within Options.MaxSkew (default 5 minutes) of the
//     server clock; clients correct their clock with GET /auth/time first;
//   - replay: an accepted signature is remembered until its timestamp has
//     left the window. POST, PUT, DELETE and PATCH signatures are accepted
//     once. GET and HEAD signatures are accepted again only from the same
//     remote address, because the timestamp has one-second resolution and
//     an honest client polling twice within a second sends the very same
//     signature (go-ovh does when polling a task);
//   - brute force: failed attempts drain a token bucket per remote address
//     and per application key; an empty bucket answers 429 until it refills;
//   - every secret comparison is constant-time.
//
// Answers (status, errorCode, message). OVH's wording, as seen in the public
// OVH clients and their tests: unknown application key 403 INVALID_KEY "This
// application key is invalid"; wrong consumer key 403 NOT_CREDENTIAL "This
// credential does not exist"; bad signature 400 INVALID_SIGNATURE "Invalid
// signature". Chosen by byoi (OVH's exact answer is not public): stale
// timestamp 400 QUERY_TIME_OUT "Query out of time"; no credentials 401 "You
// must login first"; replay 400 QUERY_REPLAYED; rate limit 429
// TOO_MANY_REQUESTS; bad bearer token 401 INVALID_TOKEN. A revoked OVH
// credential is an unknown application key.
//
// Typical wiring:
//
//	key, err := auth.LoadOrCreateKey(filepath.Join(stateDir, auth.KeyFile))
//	a, err := auth.New(st, key, auth.Options{Logger: log})
//	_, err = auth.Bootstrap(ctx, st, filepath.Join(stateDir, auth.AdminTokenFile))
//	id, kind, err := a.Check(r, body) // from server/http's Authenticator
//	mux.Handle("/api/v1/credentials", a.Credentials())
package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/byoi/byoi/boot"
)

// Store is what auth needs from persistence; *store.Store satisfies it.
// Credential and DeleteCredential return errors wrapping boot.ErrNotFound
// for an unknown ID.
type Store interface {
	PutCredential(ctx context.Context, c boot.Credential) error
	Credential(ctx context.Context, id string) (boot.Credential, error)
	Credentials(ctx context.Context) ([]boot.Credential, error)
	DeleteCredential(ctx context.Context, id string) error
	TouchCredential(ctx context.Context, id string, now time.Time) error
}

// Defaults of Options.
const (
	DefaultMaxSkew        = 5 * time.Minute
	DefaultReplayCapacity = 100_000
	DefaultFailureBurst   = 20
	DefaultFailureRate    = 0.5 // failed attempts per second, sustained
	DefaultLimiterKeys    = 10_000
	DefaultTouchInterval  = time.Minute
)

// Options configure an Authenticator. The zero value works.
type Options struct {
	// MaxSkew is how far X-Ovh-Timestamp may be from the server clock,
	// either way; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
	// TrustProxyHeaders makes the signed URL use X-Forwarded-Proto and
	// X-Forwarded-Host, and the rate limiter use the last X-Forwarded-For
	// address. Only set it behind a reverse proxy that overwrites them.
	TrustProxyHeaders bool
	// ReplayCapacity bounds the signatures remembered; 0 means
	// DefaultReplayCapacity.
	ReplayCapacity int
	// FailureBurst failed attempts are allowed at once per remote address
	// and per application key, then FailureRate per second; 0 means the
	// defaults.
	FailureBurst int
	FailureRate  float64
	// LimiterKeys bounds the keys each limiter tracks; 0 means
	// DefaultLimiterKeys.
	LimiterKeys int
	// TouchInterval is how often a credential's LastUsed is written at most;
	// 0 means DefaultTouchInterval.
	TouchInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives authentication failures (never secrets); nil
	// discards.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxSkew <= 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if o.ReplayCapacity <= 0 {
		o.ReplayCapacity = DefaultReplayCapacity
	}
	if o.FailureBurst <= 0 {
		o.FailureBurst = DefaultFailureBurst
	}
	if o.FailureRate <= 0 {
		o.FailureRate = DefaultFailureRate
	}
	if o.LimiterKeys <= 0 {
		o.LimiterKeys = DefaultLimiterKeys
	}
	if o.TouchInterval <= 0 {
		o.TouchInterval = DefaultTouchInterval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Authenticator checks requests against the credentials in a Store. It is
// safe for concurrent use.
type Authenticator struct {
	st     Store
	key    []byte
	opts   Options
	log    *slog.Logger
	replay *replayCache
	byAddr *failureLimiter
	byApp  *failureLimiter

	touchMu sync.Mutex
	touched map[string]time.Time
}

// New returns an Authenticator over st; key is the server key that seals
// OVH application secrets (see LoadOrCreateKey).
func New(st Store, key []byte, opts Options) (*Authenticator, error) {
	if st == nil {
		return nil, errors.New("auth: nil store")
	}
	if len(key) != KeySize {
		return nil, errors.New("auth: the server key must be 32 bytes")
	}
	opts.setDefaults()
	return &Authenticator{
		st: st, key: append([]byte(nil), key...), opts: opts, log: opts.Logger,
		replay:  newReplayCache(2*opts.MaxSkew, opts.ReplayCapacity),
		byAddr:  newFailureLimiter(opts.FailureRate, opts.FailureBurst, opts.LimiterKeys),
		byApp:   newFailureLimiter(opts.FailureRate, opts.FailureBurst, opts.LimiterKeys),
		touched: map[string]time.Time{},
	}, nil
}

// Check authenticates r, whose body the caller has already read. It returns
// the credential's ID and kind, or an *Error saying how to answer.
func (a *Authenticator) Check(r *http.Request, body []byte) (credentialID string, kind boot.CredentialKind, err error) {
	now := a.opts.Now()
	addr := a.remoteAddr(r)
	if d := a.byAddr.wait(addr, now); d > 0 {
		a.log.Warn("auth refused: too many failures", "remote", addr)
		return "", "", tooMany(d)
	}
	switch {
	case r.Header.Get("X-Ovh-Application") != "":
		id, err := a.checkOVH(r, body, addr, now)
		if err != nil {
			return "", "", err
		}
		return id, boot.CredentialOVH, nil
	case hasBearer(r.Header.Get("Authorization")):
		id, err := a.checkToken(r.Context(), r.Header.Get("Authorization"), addr, now)
		if err != nil {
			return "", "", err
		}
		return id, boot.CredentialToken, nil
	}
	return "", "", ErrNoCredentials
}

// failed records a failed attempt from addr (and for appKey when set).
func (a *Authenticator) failed(r *http.Request, addr, appKey, reason string, now time.Time) {
	a.byAddr.fail(addr, now)
	if appKey != "" {
		a.byApp.fail(appKey, now)
	}
	a.log.Info("auth failed", "remote", addr, "method", r.Method, "path", r.URL.Path, "app", appKey, "reason", reason)
}

// used records that credential id authenticated a request, writing
// LastUsed at most once per TouchInterval.
func (a *Authenticator) used(ctx context.Context, id string, now time.Time) {
	a.touchMu.Lock()
	last, ok := a.touched[id]
	due := !ok || now.Sub(last) >= a.opts.TouchInterval
	if due {
		a.touched[id] = now
	}
	a.touchMu.Unlock()
	if !due {
		return
	}
	if err := a.st.TouchCredential(ctx, id, now); err != nil {
		a.log.Warn("recording credential use", "credential", id, "err", err)
	}
}

// forget drops in-memory state about a revoked credential.
func (a *Authenticator) forget(id string) {
	a.touchMu.Lock()
	delete(a.touched, id)
	a.touchMu.Unlock()
}

// remoteAddr is the client's IP address (without port), from the last
// X-Forwarded-For entry when proxy headers are trusted.
func (a *Authenticator) remoteAddr(r *http.Request) string {
	if a.opts.TrustProxyHeaders {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if ip := strings.TrimSpace(parts[len(parts)-1]); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
