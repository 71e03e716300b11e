package auth

import (
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

// checkOVH verifies the X-Ovh-* headers of r and returns the application
// key (the credential ID). The order of the checks follows OVH: the
// application key, then the consumer key, then the time, then the
// signature.
func (a *Authenticator) checkOVH(r *http.Request, body []byte, addr string, now time.Time) (string, error) {
	appKey := r.Header.Get("X-Ovh-Application")
	if len(appKey) > 128 {
		a.failed(r, addr, "", "application key too long", now)
		return "", ErrInvalidKey
	}
	c, err := a.st.Credential(r.Context(), appKey)
	switch {
	case errors.Is(err, boot.ErrNotFound) || (err == nil && c.Kind != boot.CredentialOVH):
		a.failed(r, addr, "", "unknown application key", now)
		return "", ErrInvalidKey
	case err != nil:
		a.log.Error("reading credential", "app", appKey, "err", err)
		return "", internalError("Internal server error")
	}
	if d := a.byApp.wait(appKey, now); d > 0 {
		a.log.Warn("auth refused: too many failures", "app", appKey, "remote", addr)
		return "", tooMany(d)
	}
	consumer := r.Header.Get("X-Ovh-Consumer")
	if consumer == "" || subtle.ConstantTimeCompare([]byte(consumer), []byte(c.ConsumerKey)) != 1 {
		a.failed(r, addr, appKey, "wrong consumer key", now)
		return "", ErrNotCredential
	}
	tsHeader := r.Header.Get("X-Ovh-Timestamp")
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		a.failed(r, addr, appKey, "malformed timestamp", now)
		return "", ErrInvalidSignature
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > a.opts.MaxSkew || skew < -a.opts.MaxSkew {
		a.failed(r, addr, appKey, "timestamp outside the window", now)
		return "", ErrQueryTimeOut
	}
	got, ok := parseSignature(r.Header.Get("X-Ovh-Signature"))
	if !ok {
		a.failed(r, addr, appKey, "malformed signature", now)
		return "", ErrInvalidSignature
	}
	secret, err := Open(a.key, c.SealedSecret, sealedAD(c.ID))
	if err != nil {
		a.log.Error("opening application secret", "app", appKey, "err", err)
		return "", internalError("Internal server error")
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
		return "", ErrInvalidSignature
	}
	switch a.replay.use(got, addr, r.Method == http.MethodGet || r.Method == http.MethodHead, now) {
	case replayRejected:
		a.failed(r, addr, appKey, "replayed signature", now)
		return "", ErrReplayed
	case replayFull:
		a.log.Warn("replay cache full: refusing signed requests for now", "capacity", a.opts.ReplayCapacity)
		return "", tooMany(time.Second)
	}
	a.used(r.Context(), c.ID, now)
	return c.ID, nil
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

// signedURLs are the URLs a client may have signed for r: scheme and host
// as the client addressed the server, then the request URI exactly as sent
// and, when it differs, with the path unescaped (clients sign the URL they
// were given, and their HTTP library may escape it on the wire).
func (a *Authenticator) signedURLs(r *http.Request) []string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if a.opts.TrustProxyHeaders {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") { // absolute form (proxy style) or unset
		uri = r.URL.RequestURI()
	}
	base := scheme + "://" + host
	urls := []string{base + uri}
	plain := r.URL.Path
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		plain += "?" + r.URL.RawQuery
	}
	if plain != uri {
		urls = append(urls, base+plain)
	}
	return urls
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}
