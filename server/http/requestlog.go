package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	nethttp "net/http"
	"strings"
	"time"
)

// QueryIDHeader carries the ID of every answer, as OVH's API does
// ("X-Ovh-QueryID"): go-ovh shows it in its errors, and the server logs it
// with the request, so an operator finds a client's failed call in the log.
const QueryIDHeader = "X-Ovh-QueryID"

type queryIDKey struct{}

// queryID is the ID requestLog gave the request ("" outside one).
func queryID(ctx context.Context) string {
	id, _ := ctx.Value(queryIDKey{}).(string)
	return id
}

// newQueryID returns "BYOI." and 16 random hex digits.
func newQueryID() string {
	var b [8]byte
	rand.Read(b[:])
	return "BYOI." + hex.EncodeToString(b[:])
}

// requestLog gives every request a query ID (header and context) and logs
// it when it ends: at info level for API calls that change something or
// fail, at debug level for the rest (polls, the boot plane). Only the
// method, path, status, remote address and duration are logged: never a
// header, a query string or a body.
func (s *Server) requestLog(next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		id := newQueryID()
		w.Header().Set(QueryIDHeader, id)
		ctx := context.WithValue(r.Context(), queryIDKey{}, id)
		rec := &statusRecorder{ResponseWriter: w}
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(ctx))
		if rec.code == 0 {
			rec.code = nethttp.StatusOK
		}
		level := slog.LevelDebug
		if isAPIPath(r.URL.Path) && (rec.code >= 400 || (r.Method != nethttp.MethodGet && r.Method != nethttp.MethodHead)) {
			level = slog.LevelInfo
		}
		s.log.Log(ctx, level, "http request", "method", r.Method, "path", r.URL.Path, "status", rec.code,
			"query_id", id, "remote", r.RemoteAddr, "duration_ms", time.Since(start).Milliseconds())
	})
}

// isAPIPath reports whether p belongs to an operator API (the OVH API
// under /1.0 or /v1, the native API, metrics), as opposed to the boot
// plane and the installer's agent API.
func isAPIPath(p string) bool {
	for _, prefix := range []string{"/1.0", "/v1", "/api/", "/metrics"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && (rest == "" || rest[0] == '/' || strings.HasSuffix(prefix, "/")) {
			return true
		}
	}
	return false
}
