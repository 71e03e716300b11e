package http

import (
	"bytes"
	"context"
	"io"
	nethttp "net/http"
)

type principalKey struct{}

// PrincipalFrom returns the principal of an authenticated request, for
// handlers mounted behind the server's authentication (Config.Credentials).
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// bodyHandler handles a request whose body was already read.
type bodyHandler func(w nethttp.ResponseWriter, r *nethttp.Request, body []byte)

// authed checks the credentials from the headers, then reads the body
// within the bounds of body.go, authenticates the request with it and calls
// h. Without a configured Authenticator every request is refused.
func (s *Server) authed(h bodyHandler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if s.cfg.Auth == nil {
			writeError(w, nethttp.StatusUnauthorized, "This server has no authentication configured: every API call is refused")
			return
		}
		if err := s.cfg.Auth.CheckHeaders(r); err != nil {
			closeUnread(w, r)
			status := writeAuthError(w, err)
			s.log.Info("authentication refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
				"status", status, "query_id", queryID(r.Context()), "err", err)
			return
		}
		body, err := s.readBody(w, r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p, err := s.cfg.Auth.Authenticate(r, body)
		if err != nil {
			status := writeAuthError(w, err)
			s.log.Info("authentication refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
				"status", status, "query_id", queryID(r.Context()), "err", err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r, body)
	})
}

// delegate passes an authenticated request, body restored, to h.
func delegate(h nethttp.Handler) bodyHandler {
	return func(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
		h.ServeHTTP(w, r)
	}
}
