package http

import (
	"errors"
	"fmt"
	nethttp "net/http"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/web"
	"github.com/gorilla/mux"
)

// newUI builds the web UI over the server's store and lifecycle: its
// actions go through the lifecycle, its logins through the server's
// Authenticator, its error messages through the API's wording.
func (s *Server) newUI() (nethttp.Handler, error) {
	return web.New(web.Config{
		Auth:      s.uiAuth,
		Power:     s.webPower(),
		ErrorText: s.errorText,
		Logger:    s.log.With("component", "web"),
		Now:       s.cfg.Now,
	}, s.st, s.lc)
}

// uiAuth checks a token the way the API would see it in an Authorization
// header.
func (s *Server) uiAuth(r *nethttp.Request, token string) (string, error) {
	if s.cfg.Auth == nil {
		return "", errors.New("this server has no authentication configured")
	}
	req := r.Clone(r.Context())
	req.Header = nethttp.Header{"Authorization": {"Bearer " + token}}
	req.Body = nil
	p, err := s.cfg.Auth.Authenticate(req, nil)
	if err != nil {
		return "", err
	}
	return p.CredentialID, nil
}

// errorText is an error as the API would phrase it.
func (s *Server) errorText(err error) string {
	var he *httpError
	var ve *boot.ValidationError
	if lhe, ok := lifecycleError(err); ok {
		return lhe.msg
	}
	switch {
	case errors.As(err, &he):
		return he.msg
	case errors.As(err, &ve):
		return ve.Msg
	case errors.Is(err, boot.ErrNotFound), errors.Is(err, boot.ErrConflict):
		return err.Error()
	}
	s.log.Error("web: request failed", "err", err)
	return "Internal error (see the server's log)"
}

// uiRoutes mounts the web UI under /ui/, with / and /ui leading to it.
func (s *Server) uiRoutes(r *mux.Router, ui nethttp.Handler) {
	r.PathPrefix(web.Prefix).Handler(s.limitBody(ui))
	toUI := s.limitBody(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
		nethttp.Redirect(w, req, web.Prefix, nethttp.StatusSeeOther)
	}))
	r.Handle("/", toUI).Methods(nethttp.MethodGet, nethttp.MethodHead)
	r.Handle("/ui", toUI).Methods(nethttp.MethodGet, nethttp.MethodHead)
}

// limitBody answers 413 to a body over the limit, as every API route does,
// and caps what a handler can read.
func (s *Server) limitBody(h nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeError(w, nethttp.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large: at most %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		if r.Body != nil {
			r.Body = nethttp.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		}
		h.ServeHTTP(w, r)
	})
}
