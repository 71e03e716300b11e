package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
)

// A bearer token is "byoi_" + its credential ID + "_" + 32 random bytes in
// unpadded base64url. The ID lets the server find the credential without a
// hash index; only the SHA-256 of the whole token is stored.
const (
	TokenPrefix   = "byoi_"
	tokenIDPrefix = "tok-"
	tokenIDLen    = len(tokenIDPrefix) + 12
	tokenSecret   = 32
)

var b64 = base64.RawURLEncoding

func hasBearer(h string) bool {
	return len(h) > 7 && strings.EqualFold(h[:7], "bearer ")
}

// HashToken is the hex SHA-256 under which a token is stored.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// tokenID extracts the credential ID from a well-formed token.
func tokenID(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok || len(rest) != tokenIDLen+1+b64.EncodedLen(tokenSecret) || rest[tokenIDLen] != '_' {
		return "", false
	}
	id := rest[:tokenIDLen]
	if !strings.HasPrefix(id, tokenIDPrefix) {
		return "", false
	}
	if _, err := hex.DecodeString(id[len(tokenIDPrefix):]); err != nil {
		return "", false
	}
	if _, err := b64.DecodeString(rest[tokenIDLen+1:]); err != nil {
		return "", false
	}
	return id, true
}

func (a *Authenticator) checkToken(ctx context.Context, header, addr string, now time.Time) (boot.Credential, error) {
	token := strings.TrimSpace(header[7:])
	id, ok := tokenID(token)
	if !ok {
		a.byAddr.fail(addr, now)
		a.log.Info("auth failed", "remote", addr, "reason", "malformed bearer token")
		return boot.Credential{}, ErrInvalidToken
	}
	c, err := a.st.Credential(ctx, id)
	if err != nil && !errors.Is(err, boot.ErrNotFound) {
		a.log.Error("reading credential", "credential", id, "err", err)
		return boot.Credential{}, internalError("Internal server error")
	}
	// The ID is not secret; the hash comparison is constant-time.
	match := subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(c.SecretHash)) == 1
	if err != nil || c.Kind != boot.CredentialToken || !match {
		a.byAddr.fail(addr, now)
		a.log.Info("auth failed", "remote", addr, "credential", id, "reason", "unknown or revoked bearer token")
		return boot.Credential{}, ErrInvalidToken
	}
	return c, nil
}

// newToken returns a fresh token and its credential ID.
func newToken() (token, id string, err error) {
	raw := make([]byte, 6+tokenSecret)
	if _, err := rand.Read(raw); err != nil {
		return "", "", err
	}
	id = tokenIDPrefix + hex.EncodeToString(raw[:6])
	return TokenPrefix + id + "_" + b64.EncodeToString(raw[6:]), id, nil
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randAlnum returns n random letters and digits, uniformly (bytes above
// the largest multiple of 62 are drawn again).
func randAlnum(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+4)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, alnum[b%62])
			}
		}
	}
	return string(out), nil
}
