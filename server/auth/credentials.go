package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
)

// CredentialsPath is where the Credentials handler expects to be mounted.
const CredentialsPath = "/api/v1/credentials"

// CredentialView is a credential as listed: never a secret, a hash or a
// consumer key.
type CredentialView struct {
	ID       string              `json:"id"`
	Kind     boot.CredentialKind `json:"kind"`
	Name     string              `json:"name"`
	Created  time.Time           `json:"created"`
	LastUsed time.Time           `json:"lastUsed,omitzero"`
	Rules    []boot.AccessRule   `json:"rules,omitempty"`
	Expires  time.Time           `json:"expires,omitzero"`
}

// View returns what may be shown of c.
func View(c boot.Credential) CredentialView {
	return CredentialView{ID: c.ID, Kind: c.Kind, Name: c.Name, Created: c.Created, LastUsed: c.LastUsed, Rules: c.Rules, Expires: c.Expires}
}

// CreateRequest is the body of POST /api/v1/credentials.
type CreateRequest struct {
	Kind boot.CredentialKind `json:"kind"`
	Name string              `json:"name"`
	// Rules limit the calls the credential may make (none: every call).
	Rules []boot.AccessRule `json:"rules,omitempty"`
	// ExpiresIn is the credential's lifetime in seconds (0: forever).
	ExpiresIn int64 `json:"expiresIn,omitempty"`
}

// MaxExpiresIn bounds CreateRequest.ExpiresIn: ten years.
const MaxExpiresIn = 10 * 366 * 24 * 3600

// Credentials returns the handler of the native credentials API, to be
// mounted at CredentialsPath (and the paths below it) behind the API's own
// authentication:
//
//	GET    /api/v1/credentials       list (CredentialView, never secrets)
//	POST   /api/v1/credentials       CreateRequest {"kind":"ovh"|"token","name":…,"rules":[…],"expiresIn":s} → 201 Issued, secrets shown once
//	GET    /api/v1/credentials/{id}  one CredentialView
//	DELETE /api/v1/credentials/{id}  revoke → 204
func (a *Authenticator) Credentials() http.Handler {
	return http.HandlerFunc(a.serveCredentials)
}

func (a *Authenticator) serveCredentials(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, CredentialsPath)
	switch {
	case !ok:
		WriteError(w, notFound("No such route %s", r.URL.Path))
	case rest == "" || rest == "/":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			a.listCredentials(w, r)
		case http.MethodPost:
			a.createCredential(w, r)
		default:
			methodNotAllowed(w, "GET, HEAD, POST")
		}
	case strings.Count(rest, "/") == 1 && len(rest) > 1:
		id := rest[1:]
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			a.getCredential(w, r, id)
		case http.MethodDelete:
			a.revokeCredential(w, r, id)
		default:
			methodNotAllowed(w, "GET, HEAD, DELETE")
		}
	default:
		WriteError(w, notFound("No such route %s", r.URL.Path))
	}
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	WriteError(w, &Error{Status: http.StatusMethodNotAllowed, Class: "Client::MethodNotAllowed", Message: "Method not allowed, use " + allow})
}

func (a *Authenticator) listCredentials(w http.ResponseWriter, r *http.Request) {
	cs, err := a.st.Credentials(r.Context())
	if err != nil {
		a.log.Error("listing credentials", "err", err)
		WriteError(w, err)
		return
	}
	views := make([]CredentialView, 0, len(cs))
	for _, c := range cs {
		views = append(views, View(c))
	}
	writeJSON(w, http.StatusOK, views)
}

func (a *Authenticator) getCredential(w http.ResponseWriter, r *http.Request, id string) {
	c, err := a.st.Credential(r.Context(), id)
	if errors.Is(err, boot.ErrNotFound) {
		WriteError(w, notFound("The requested object (credential = %s) does not exist", id))
		return
	}
	if err != nil {
		a.log.Error("reading credential", "credential", id, "err", err)
		WriteError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, View(c))
}

func (a *Authenticator) createCredential(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, badRequest("Invalid JSON body: %v", err))
		return
	}
	var (
		iss Issued
		err error
	)
	now := a.opts.Now()
	g := Grant{Rules: req.Rules}
	switch {
	case req.ExpiresIn < 0 || req.ExpiresIn > MaxExpiresIn:
		WriteError(w, badRequest("Invalid expiresIn %d: from 1 to %d seconds, or 0 for no expiry", req.ExpiresIn, MaxExpiresIn))
		return
	case req.ExpiresIn > 0:
		g.Expires = now.Add(time.Duration(req.ExpiresIn) * time.Second)
	}
	switch req.Kind {
	case boot.CredentialToken:
		iss, err = IssueToken(r.Context(), a.st, req.Name, g, now)
	case boot.CredentialOVH:
		iss, err = IssueOVH(r.Context(), a.st, a.keys, req.Name, g, now)
	case "":
		err = badRequest("Missing parameter: kind (%q or %q)", boot.CredentialOVH, boot.CredentialToken)
	default:
		err = badRequest("Invalid kind %q: use %q or %q", req.Kind, boot.CredentialOVH, boot.CredentialToken)
	}
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			a.log.Error("creating credential", "kind", req.Kind, "err", err)
		}
		WriteError(w, err)
		return
	}
	a.log.Info("credential created", "credential", iss.ID, "kind", iss.Kind, "name", iss.Name)
	writeJSON(w, http.StatusCreated, iss)
}

func (a *Authenticator) revokeCredential(w http.ResponseWriter, r *http.Request, id string) {
	// Under the keyring's read lock, so that a rotation never writes back
	// a credential revoked while it re-seals.
	a.keys.mu.RLock()
	err := a.st.DeleteCredential(r.Context(), id)
	a.keys.mu.RUnlock()
	if errors.Is(err, boot.ErrNotFound) {
		WriteError(w, notFound("The requested object (credential = %s) does not exist", id))
		return
	}
	if err != nil {
		a.log.Error("revoking credential", "credential", id, "err", err)
		WriteError(w, err)
		return
	}
	a.forget(id)
	a.log.Info("credential revoked", "credential", id)
	w.WriteHeader(http.StatusNoContent)
}
