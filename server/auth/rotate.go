package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/byoi/byoi/boot"
)

// KeysPath is where the Keys handler expects to be mounted.
const KeysPath = "/api/v1/keys"

// KeyVersion describes one version of the server key.
type KeyVersion struct {
	Version int  `json:"version"`
	Current bool `json:"current"`
	// Credentials is how many stored secrets this version sealed.
	Credentials int `json:"credentials"`
}

// RotateRequest is the body of POST /api/v1/keys/rotate.
type RotateRequest struct {
	// RetireOld drops the old versions once no stored secret uses them.
	RetireOld bool `json:"retireOld"`
}

// SecretSet is a set of secrets sealed with the server key outside the
// credentials (machines' BMC passwords): Rotate seals them again too, and
// KeyVersions counts them.
type SecretSet interface {
	// Reseal calls reseal on each sealed secret and stores what it
	// returns, in one go; a secret reseal cannot open is left as it is and
	// its version listed in unreadable.
	Reseal(ctx context.Context, reseal func(version int, sealed, additional []byte) (int, []byte, error)) (resealed int, unreadable []int, err error)
	// SealedVersions counts the secrets sealed with each version.
	SealedVersions(ctx context.Context) (map[int]int, error)
}

// RotateResult is what a rotation did.
type RotateResult struct {
	Version  int   `json:"version"`  // the new current version
	Resealed int   `json:"resealed"` // secrets sealed again with it
	Retired  []int `json:"retired"`  // versions dropped (RetireOld)
	// Unreadable lists the credentials whose secret no version opens; they
	// are left as they are (and keep their version when RetireOld).
	Unreadable []string `json:"unreadable"`
}

// Rotate makes a new random key version current, saves the keyring, and
// seals every stored OVH application secret again with it. Old versions
// stay in the keyring (so a store restored from a backup still opens)
// unless retireOld. Requests keep being authenticated meanwhile; new
// secrets wait for the rotation to end.
func (a *Authenticator) Rotate(ctx context.Context, retireOld bool) (RotateResult, error) {
	kr := a.keys
	kr.mu.Lock()
	defer kr.mu.Unlock()
	cs, err := a.st.Credentials(ctx)
	if err != nil {
		return RotateResult{}, fmt.Errorf("rotate server key: %w", err)
	}
	v, err := kr.addLocked()
	if err != nil {
		return RotateResult{}, fmt.Errorf("rotate server key: %w", err)
	}
	res := RotateResult{Version: v, Retired: []int{}, Unreadable: []string{}}
	keep := map[int]bool{}
	for _, c := range cs {
		if c.Kind != boot.CredentialOVH || len(c.SealedSecret) == 0 || c.KeyVersion == v {
			continue
		}
		plain, err := kr.openLocked(c.KeyVersion, c.SealedSecret, sealedAD(c.ID))
		if err != nil {
			a.log.Error("rotate server key: cannot open a secret, left as it is", "credential", c.ID, "version", max(c.KeyVersion, 1), "err", err)
			res.Unreadable = append(res.Unreadable, c.ID)
			keep[max(c.KeyVersion, 1)] = true
			continue
		}
		c.KeyVersion, c.SealedSecret, err = kr.sealLocked(plain, sealedAD(c.ID))
		if err != nil {
			return res, fmt.Errorf("rotate server key: %w", err)
		}
		if err := a.st.PutCredential(ctx, c); err != nil {
			return res, fmt.Errorf("rotate server key: re-seal credential %s: %w", c.ID, err)
		}
		res.Resealed++
	}
	for _, set := range a.opts.Secrets {
		n, unreadable, err := set.Reseal(ctx, func(version int, sealed, additional []byte) (int, []byte, error) {
			plain, err := kr.openLocked(version, sealed, additional)
			if err != nil {
				return 0, nil, err
			}
			return kr.sealLocked(plain, additional)
		})
		res.Resealed += n
		for _, v := range unreadable {
			keep[max(v, 1)] = true
		}
		if err != nil {
			return res, fmt.Errorf("rotate server key: %w", err)
		}
	}
	if retireOld {
		dropped, err := kr.retireLocked(keep)
		if err != nil {
			return res, fmt.Errorf("rotate server key: %w", err)
		}
		res.Retired = append(res.Retired, dropped...)
	}
	a.log.Info("server key rotated", "version", v, "resealed", res.Resealed, "retired", res.Retired, "unreadable", len(res.Unreadable))
	return res, nil
}

// KeyVersions lists the keyring's versions and how many stored secrets
// each sealed.
func (a *Authenticator) KeyVersions(ctx context.Context) ([]KeyVersion, error) {
	cs, err := a.st.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	used := map[int]int{}
	for _, c := range cs {
		if c.Kind == boot.CredentialOVH && len(c.SealedSecret) > 0 {
			used[max(c.KeyVersion, 1)]++
		}
	}
	for _, set := range a.opts.Secrets {
		n, err := set.SealedVersions(ctx)
		if err != nil {
			return nil, err
		}
		for v, c := range n {
			used[max(v, 1)] += c
		}
	}
	cur := a.keys.Current()
	var out []KeyVersion
	for _, v := range a.keys.Versions() {
		out = append(out, KeyVersion{Version: v, Current: v == cur, Credentials: used[v]})
	}
	return out, nil
}

// Keys returns the handler of the server key API, to be mounted at KeysPath
// (and below) behind the API's own authentication; only credentials
// without rules may call it:
//
//	GET  /api/v1/keys         [KeyVersion]
//	POST /api/v1/keys/rotate  {"retireOld": bool} → RotateResult
func (a *Authenticator) Keys() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, KeysPath)
		switch {
		case rest == "" || rest == "/":
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				methodNotAllowed(w, "GET, HEAD")
				return
			}
			vs, err := a.KeyVersions(r.Context())
			if err != nil {
				a.log.Error("listing key versions", "err", err)
				WriteError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, vs)
		case rest == "/rotate":
			if r.Method != http.MethodPost {
				methodNotAllowed(w, "POST")
				return
			}
			var req RotateRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
				WriteError(w, badRequest("Invalid JSON body: %v", err))
				return
			}
			res, err := a.Rotate(r.Context(), req.RetireOld)
			if err != nil {
				a.log.Error("rotating the server key", "err", err)
				WriteError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, res)
		default:
			WriteError(w, notFound("No such route %s", r.URL.Path))
		}
	})
}
