package image

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// cutAt lets the first request send pct percent of the file, then drops
// the connection; later requests are served normally.
func cutAt(pct int64) func(size int64, hits *atomic.Int32) func(http.Handler) http.Handler {
	return func(size int64, hits *atomic.Int32) func(http.Handler) http.Handler {
		return cutAfter(size, size*pct/100, hits)
	}
}

func cutAfter(size, keep int64, hits *atomic.Int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) > 1 {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			w.Header().Set("ETag", "\"first\"")
			rec := &limitWriter{w: w, left: keep}
			next.ServeHTTP(rec, r)
			panic(http.ErrAbortHandler) // drop the connection mid-body
		})
	}
}

type limitWriter struct {
	w    http.ResponseWriter
	left int64
}

func (l *limitWriter) Header() http.Header { return l.w.Header() }
func (l *limitWriter) WriteHeader(c int)   { l.w.WriteHeader(c) }
func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		panic(http.ErrAbortHandler)
	}
	n := min(int64(len(p)), l.left)
	l.left -= n
	m, err := l.w.Write(p[:n])
	if err == nil && int64(m) < int64(len(p)) {
		l.w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	return m, err
}

// stallAtHalf stops sending (without closing) after half the file on the
// first request.
func stallAtHalf(size int64, hits *atomic.Int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) > 1 {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			rec := &stallWriter{w: w, left: size / 2, ctx: r.Context().Done()}
			next.ServeHTTP(rec, r)
		})
	}
}

type stallWriter struct {
	w    http.ResponseWriter
	left int64
	ctx  <-chan struct{}
}

func (s *stallWriter) Header() http.Header { return s.w.Header() }
func (s *stallWriter) WriteHeader(c int)   { s.w.WriteHeader(c) }
func (s *stallWriter) Write(p []byte) (int, error) {
	if s.left <= 0 {
		<-s.ctx // hang until the client gives up
		panic(http.ErrAbortHandler)
	}
	n := min(int64(len(p)), s.left)
	s.left -= n
	m, err := s.w.Write(p[:n])
	s.w.(http.Flusher).Flush()
	return m, err
}

func TestInstallInterrupted(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, tc := range []struct {
		name, file string
		server     func(size int64, hits *atomic.Int32) func(http.Handler) http.Handler
		range_     bool
	}{
		{"cut raw at 10%", "raw", cutAt(10), true},
		{"cut raw at 50%", "raw", cutAt(50), true},
		{"cut raw at 99%", "raw", cutAt(99), true},
		{"cut gzip at 10%", "raw-gzip", cutAt(10), true},
		{"cut gzip at 50%", "raw-gzip", cutAt(50), true},
		{"cut gzip at 99%", "raw-gzip", cutAt(99), true},
		{"cut qcow2 at 10%", "qcow2-zlib", cutAt(10), true},
		{"cut qcow2 at 50%", "qcow2-zlib", cutAt(50), true},
		{"cut qcow2 at 99%", "qcow2-zlib", cutAt(99), true},
		{"cut raw no range at 10%", "raw", cutAt(10), false},
		{"cut raw no range at 50%", "raw", cutAt(50), false},
		{"cut raw no range at 99%", "raw", cutAt(99), false},
		{"cut qcow2 no range at 50%", "qcow2-v3", cutAt(50), false},
		{"cut qcow2 no range at 99%", "qcow2-v3", cutAt(99), false},
		{"stall raw", "raw", stallAtHalf, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := variants[tc.file]
			size := fileSize(t, path)
			var hits atomic.Int32
			mw := tc.server(size, &hits)
			if !tc.range_ {
				inner := mw
				mw = func(http.Handler) http.Handler { return inner(noRange(path)) }
			}
			srv := fileServer(t, path, mw)
			dir := t.TempDir()
			tg := garbageTarget(t, filepath.Join(dir, "disk"), testImageSize)
			want := filepath.Join(dir, "want.raw")
			src := path
			if strings.HasPrefix(tc.file, "raw") {
				src = variants["raw"]
			}
			oracle(t, src, want)
			good := fileDigest(t, path, newHash("sha512"))
			start := time.Now()
			res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(tc.file),
				ChecksumType: "sha512", Checksum: good, StallTimeout: 500 * time.Millisecond}), tg)
			if err != nil {
				t.Fatalf("Install(%s) = %v", tc.name, err)
			}
			sameContent(t, tg.Name(), want, testImageSize)
			if hits.Load() < 2 {
				t.Errorf("Install(%s) made %d requests, want a retry", tc.name, hits.Load())
			}
			t.Logf("%s: %d requests, downloaded %d of %d bytes in %v", tc.name, hits.Load(), res.Downloaded, size, time.Since(start))
			if tc.range_ && res.Downloaded > size+size/4 {
				t.Errorf("Install(%s) downloaded %d bytes of a %d-byte file: resume should not restart", tc.name, res.Downloaded, size)
			}
		})
	}
}

func TestInstallDownloadErrors(t *testing.T) {
	variants, _ := loadFixtures(t)
	raw := variants["raw"]
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Basic bG9naW46cGFzc3dvcmQ=" {
				w.Header().Set("WWW-Authenticate", `Basic realm="images"`)
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	protected := fileServer(t, raw, auth)
	missing := fileServer(t, filepath.Join(t.TempDir(), "nothing"), nil)
	var fails atomic.Int32
	broken := fileServer(t, raw, func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fails.Add(1)
			http.Error(w, "oops", http.StatusBadGateway)
		})
	})
	closed := "http://" + closedPort(t) + "/disk.raw"
	for _, tc := range []struct {
		name    string
		o       Options
		want    string // prefix of the download error's cause; "" means success
		retries int32
	}{
		{"404", Options{URL: missing.URL + "/x"}, "404 Not Found", 0},
		{"unreachable", Options{URL: closed, Retries: 2}, "dial tcp " + strings.TrimPrefix(closed, "http://")[:0], 0},
		{"no headers", Options{URL: protected.URL}, "401 Unauthorized", 0},
		{"wrong headers", Options{URL: protected.URL, Headers: map[string]string{"Authorization": "Basic eA=="}}, "401 Unauthorized", 0},
		{"headers", Options{URL: protected.URL, Headers: map[string]string{"Authorization": "Basic bG9naW46cGFzc3dvcmQ="}}, "", 0},
		{"502 retried", Options{URL: broken.URL, Retries: 3}, "502 Bad Gateway", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
			o := tc.o
			o.Type = "raw"
			_, err := Install(testCtx(t), fast(o), tg)
			if err != nil && !isKind(err, KindDownload, boot.StepDownload) {
				t.Fatalf("Install(%s) = %#v, want a download error", tc.name, err)
			}
			got := causeOf(failure(t, err))
			if (tc.want == "") != (err == nil) || !strings.HasPrefix(got, tc.want) {
				t.Fatalf("Install(%s) error = %v (cause %q), want cause prefix %q", tc.name, err, got, tc.want)
			}
			if tc.name == "unreachable" && !strings.Contains(got, "connection refused") {
				t.Errorf("Install(%s) error = %q, want connection refused", tc.name, got)
			}
			if err != nil && strings.Contains(err.Error(), "bG9naW46") {
				t.Errorf("Install(%s) error leaks a header value: %q", tc.name, got)
			}
			if tc.retries > 0 && fails.Load() != tc.retries {
				t.Errorf("Install(%s) made %d requests, want %d", tc.name, fails.Load(), tc.retries)
			}
		})
	}
}
