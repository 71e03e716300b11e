package auth

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
)

const sigPrefix = "$1$"

// checkOVH verifies the X-Ovh-* headers of r and returns the credential of
// the application key. The order of the checks follows OVH: the
// application key, then the consumer key, then the time, then the
// signature. With headersOnly it stops before the signature (body unread).
func (a *Authenticator) checkOVH(r *http.Request, body []byte, addr string, now time.Time, headersOnly bool) (boot.Credential, error) {
	appKey := r.Header.Get("X-Ovh-Application")
	if len(appKey) > 128 {
		a.failed(r, addr, "", "application key too long", now)
		return boot.Credential{}, ErrInvalidKey
	}
	c, err := a.st.Credential(r.Context(), appKey)
	switch {
	case errors.Is(err, boot.ErrNotFound) || (err == nil && c.Kind != boot.CredentialOVH):
		a.failed(r, addr, "", "unknown application key", now)
		return boot.Credential{}, ErrInvalidKey
	case err != nil:
		a.log.Error("reading credential", "app", appKey, "err", err)
		return boot.Credential{}, internalError("Internal server error")
	}
	if d := a.byApp.wait(appKey, now); d > 0 {
		a.log.Warn("auth refused: too many failures", "app", appKey, "remote", addr)
		return boot.Credential{}, tooMany(d)
	}
	consumer := r.Header.Get("X-Ovh-Consumer")
	if consumer == "" && r.Header.Get("X-Ovh-Signature") == "" && r.Header.Get("X-Ovh-Timestamp") == "" {
		// An application key alone, as clients send to the unsigned
		// /auth/… calls (the Node.js client never signs a path holding
		// "/auth"): not a guess at a credential.
		return boot.Credential{}, ErrNoCredentials
	}
	if consumer == "" || subtle.ConstantTimeCompare([]byte(consumer), []byte(c.ConsumerKey)) != 1 {
		a.failed(r, addr, appKey, "wrong consumer key", now)
		return boot.Credential{}, ErrNotCredential
	}
	tsHeader := r.Header.Get("X-Ovh-Timestamp")
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		a.failed(r, addr, appKey, "malformed timestamp", now)
		return boot.Credential{}, ErrInvalidSignature
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > a.opts.MaxSkew || skew < -a.opts.MaxSkew {
		a.failed(r, addr, appKey, "timestamp outside the window", now)
		return boot.Credential{}, ErrQueryTimeOut
	}
	got, ok := parseSignature(r.Header.Get("X-Ovh-Signature"))
	if !ok {
		a.failed(r, addr, appKey, "malformed signature", now)
		return boot.Credential{}, ErrInvalidSignature
	}
	if headersOnly {
		return c, nil
	}
	secret, err := a.openSecret(r.Context(), c)
	if errors.Is(err, boot.ErrNotFound) { // revoked meanwhile
		a.failed(r, addr, "", "unknown application key", now)
		return boot.Credential{}, ErrInvalidKey
	}
	if err != nil {
		a.log.Error("opening application secret", "app", appKey, "err", err)
		return boot.Credential{}, internalError("Internal server error")
	}
	match := false
	for _, u := range a.signedURLs(r) {
		want := Signature(string(secret), consumer, r.Method, u, body, tsHeader)
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			match = true
		}
	}
	if !match {
		a.failed(r, addr, appKey, "signature mismatch", now)
		return boot.Credential{}, ErrInvalidSignature
	}
	switch a.replay.use(got, addr, now) {
	case replayRejected:
		a.failed(r, addr, appKey, "replayed signature", now)
		return boot.Credential{}, ErrReplayed
	case replayFull:
		a.log.Warn("replay cache full: refusing signed requests for now", "capacity", a.opts.ReplayCapacity)
		return boot.Credential{}, tooMany(time.Second)
	}
	return c, nil
}

// openSecret opens c's application secret. A rotation may have sealed it
// again (and retired its version) since c was read: then it is read again
// under the keyring's lock, which no rotation holds meanwhile.
func (a *Authenticator) openSecret(ctx context.Context, c boot.Credential) ([]byte, error) {
	secret, err := a.keys.open(c.KeyVersion, c.SealedSecret, sealedAD(c.ID))
	if err == nil {
		return secret, nil
	}
	a.keys.mu.RLock()
	defer a.keys.mu.RUnlock()
	fresh, err := a.st.Credential(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	return a.keys.openLocked(fresh.KeyVersion, fresh.SealedSecret, sealedAD(fresh.ID))
}

// Signature computes the SHA-1 of OVH's signature scheme:
// secret+consumerKey+METHOD+fullURL+body+timestamp joined by "+".
func Signature(secret, consumerKey, method, fullURL string, body []byte, timestamp string) [20]byte {
	h := sha1.New()
	for _, part := range [][]byte{[]byte(secret), []byte(consumerKey), []byte(strings.ToUpper(method)), []byte(fullURL), body} {
		h.Write(part)
		h.Write([]byte{'+'})
	}
	h.Write([]byte(timestamp))
	var sum [20]byte
	h.Sum(sum[:0])
	return sum
}

// FormatSignature renders a signature as the X-Ovh-Signature header value.
func FormatSignature(sum [20]byte) string { return sigPrefix + hex.EncodeToString(sum[:]) }

func parseSignature(v string) (sum [20]byte, ok bool) {
	if !strings.HasPrefix(v, sigPrefix) || len(v) != len(sigPrefix)+40 {
		return sum, false
	}
	if _, err := hex.Decode(sum[:], []byte(strings.ToLower(v[len(sigPrefix):]))); err != nil {
		return sum, false
	}
	return sum, true
}
