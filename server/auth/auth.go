// Package auth authenticates byoi's API callers and manages their
// credentials. Two schemes are accepted:
//
//   - OVH's signature scheme, so OVH scripts and the official OVH client
//     libraries work unchanged: X-Ovh-Application (application key),
//     X-Ovh-Consumer (consumer key), X-Ovh-Timestamp (unix seconds) and
//     X-Ovh-Signature = "$1$" + hex(sha1(secret+"+"+consumerKey+"+"+METHOD+
//     "+"+fullURL+"+"+body+"+"+timestamp)). fullURL is the URL the client
//     signed, rebuilt from the request (see url.go: the connection's scheme,
//     the Host header with or without its port, the request URI; the
//     X-Forwarded-* headers of Options.TrustedProxies only).
//   - Bearer tokens ("Authorization: Bearer byoi_…") for the native API and
//     the CLI.
//
// Secrets are never stored in clear: tokens as SHA-256, OVH application
// secrets sealed with AES-256-GCM under a versioned server key (Keyring),
// because checking a signature needs the secret itself.
//
// A credential may carry access rules (method + path pattern, as OVH's
// consumer keys do, see scope.go) and an expiry.
//
// Protections, all in memory and bounded:
//   - a timestamp must be within Options.MaxSkew (default 5 minutes) of the
//     server clock; clients correct their clock with GET /auth/time first;
//   - replay: an accepted signature is bound to the remote address that
//     first sent it until its timestamp has left the window. The same
//     signed request from that address is processed like any request
//     (client timestamps are whole seconds, so a quick retry or a poll
//     repeats the very same signature: a second reinstall must get its 409,
//     not a signature error); from another address it is refused;
//   - brute force: failed attempts drain a token bucket per remote address
//     and per application key; an empty bucket answers 429 until it refills;
//   - every secret comparison is constant-time.
//
// Answers (status, errorCode, message). OVH's wording, as seen in the public
// OVH clients and their users' reports: unknown application key 403
// INVALID_KEY "This application key is invalid"; wrong consumer key 403
// NOT_CREDENTIAL "This credential does not exist"; expired consumer key 403
// INVALID_CREDENTIAL "This credential is not valid"; a call outside the
// credential's rules 403 NOT_GRANTED_CALL "This call has not been granted";
// bad signature 400 INVALID_SIGNATURE "Invalid signature"; stale timestamp
// 400 QUERY_TIME_OUT "Query out of time". Chosen by byoi: no credentials 401
// NOT_AUTHENTICATED "You must login first"; replay from another address 400
// QUERY_REPLAYED; rate limit 429 TOO_MANY_REQUESTS; bad or expired bearer
// token 401 INVALID_TOKEN. A revoked OVH credential is an unknown
// application key.
//
// Typical wiring:
//
//	keys, err := auth.LoadOrCreateKeyring(filepath.Join(stateDir, auth.KeyFile))
//	a, err := auth.New(st, keys, auth.Options{Logger: log})
//	_, err = auth.Bootstrap(ctx, st, filepath.Join(stateDir, auth.AdminTokenFile))
//	caller, err := a.Authenticate(r, body) // from server/http's Authenticator
//	mux.Handle("/api/v1/credentials", a.Credentials())
//	mux.Handle("/api/v1/keys", a.Keys())
package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
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
	// TrustedProxies are the reverse proxies whose X-Forwarded-Proto,
	// -Host, -Port (the URL the client signed) and X-Forwarded-For (the
	// client's address) are believed, for requests whose connection comes
	// from one of them. Empty: those headers are ignored.
	TrustedProxies []netip.Prefix
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
	// Secrets are sealed secrets kept outside the credentials (machines'
	// BMC passwords) that Rotate seals again with the new key.
	Secrets []SecretSet
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
	keys   *Keyring
	opts   Options
	log    *slog.Logger
	replay *replayCache
	byAddr *failureLimiter
	byApp  *failureLimiter

	touchMu sync.Mutex
	touched map[string]time.Time
}

// New returns an Authenticator over st; keys seal OVH application secrets
// (see LoadOrCreateKeyring).
func New(st Store, keys *Keyring, opts Options) (*Authenticator, error) {
	if st == nil {
		return nil, errors.New("auth: nil store")
	}
	if keys == nil {
		return nil, errors.New("auth: nil keyring")
	}
	opts.setDefaults()
	return &Authenticator{
		st: st, keys: keys, opts: opts, log: opts.Logger,
		replay:  newReplayCache(2*opts.MaxSkew, opts.ReplayCapacity),
		byAddr:  newFailureLimiter(opts.FailureRate, opts.FailureBurst, opts.LimiterKeys),
		byApp:   newFailureLimiter(opts.FailureRate, opts.FailureBurst, opts.LimiterKeys),
		touched: map[string]time.Time{},
	}, nil
}

// Caller is the credential that authenticated a request: never a secret.
type Caller struct {
	ID      string
	Kind    boot.CredentialKind
	Name    string
	Rules   []boot.AccessRule // none: every call
	Created time.Time
	Expires time.Time // zero: never
}

func callerOf(c boot.Credential) Caller {
	return Caller{ID: c.ID, Kind: c.Kind, Name: c.Name, Rules: c.Rules, Created: c.Created, Expires: c.Expires}
}

// Authenticate authenticates r, whose body the caller has already read,
// and checks that the credential may make this call (its expiry, its
// rules). It returns the caller, or an *Error saying how to answer.
func (a *Authenticator) Authenticate(r *http.Request, body []byte) (Caller, error) {
	return a.authenticate(r, body, false)
}

// CheckHeaders runs every check that does not need the body — the rate
// limits, the credential's existence, a bearer token in full, an OVH
// application and consumer key, the timestamp window, the signature's form,
// expiry and access rules — so that a caller reads a request's body only
// for a credential that exists and may make the call. Authenticate must
// still be called with the body: an OVH signature covers it.
func (a *Authenticator) CheckHeaders(r *http.Request) error {
	_, err := a.authenticate(r, nil, true)
	return err
}

func (a *Authenticator) authenticate(r *http.Request, body []byte, headersOnly bool) (Caller, error) {
	now := a.opts.Now()
	addr := a.remoteAddr(r)
	if d := a.byAddr.wait(addr, now); d > 0 {
		a.log.Warn("auth refused: too many failures", "remote", addr)
		return Caller{}, tooMany(d)
	}
	var (
		c   boot.Credential
		err error
	)
	switch {
	case r.Header.Get("X-Ovh-Application") != "":
		c, err = a.checkOVH(r, body, addr, now, headersOnly)
	case hasBearer(r.Header.Get("Authorization")):
		c, err = a.checkToken(r.Context(), r.Header.Get("Authorization"), addr, now)
	default:
		return Caller{}, ErrNoCredentials
	}
	if err != nil {
		return Caller{}, err
	}
	if !c.Expires.IsZero() && !now.Before(c.Expires) {
		a.log.Info("auth refused: expired credential", "remote", addr, "credential", c.ID, "expired", c.Expires)
		if c.Kind == boot.CredentialToken {
			return Caller{}, ErrExpiredToken
		}
		return Caller{}, ErrInvalidCredential
	}
	if !Allowed(c.Rules, r.Method, r.URL.Path) {
		a.log.Info("call not granted", "credential", c.ID, "method", r.Method, "path", r.URL.Path)
		return Caller{}, ErrNotGrantedCall
	}
	if !headersOnly {
		a.used(r.Context(), c.ID, now)
	}
	return callerOf(c), nil
}

// Check is Authenticate returning only the credential's ID and kind.
func (a *Authenticator) Check(r *http.Request, body []byte) (credentialID string, kind boot.CredentialKind, err error) {
	c, err := a.Authenticate(r, body)
	return c.ID, c.Kind, err
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
