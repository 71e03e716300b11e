package image

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// trickle serves the first bytes of path one at a time, every gap, on every
// request (Range ignored), announcing the whole length: a server that never
// stalls but would take forever. gap 0 sends nothing at all, after burst
// bytes sent at once on the first request only.
func trickle(t *testing.T, path string, gap time.Duration, burst int, hits *atomic.Int32) http.Handler {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := hits.Add(1) == 1
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		if first {
			w.Write(data[:burst])
		}
		w.(http.Flusher).Flush()
		for i := 0; ; i++ {
			if gap == 0 {
				<-r.Context().Done()
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(gap):
			}
			if _, err := w.Write(data[i : i+1]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
}

// TestInstallSlowServer: a server that trickles (or sends nothing after
// the headers) fails the download within a bound set by StallTimeout and
// Retries, with a message that says why; each abort is retried. The server
// ignores Range, so every resumed request must first skip what was already
// read, at the server's pace: a request that starves while skipping counts
// against the same retries (the burst case starves there every time; the
// trickle cases do when the machine is loaded).
func TestInstallSlowServer(t *testing.T) {
	variants, _ := loadFixtures(t)
	const (
		stall   = 300 * time.Millisecond
		retries = 2
	)
	for _, tc := range []struct {
		name    string
		gap     time.Duration
		burst   int // bytes sent at once by the first response
		minRate int64
		want    string // prefix of the cause
		also    string // and a part of it
	}{
		{"1 byte per 20 ms", 20 * time.Millisecond, 0, 0, "download too slow: ", "bytes in 300ms, below the minimum of 1024 bytes/s"},
		{"1 byte per 20 ms, higher minimum", 20 * time.Millisecond, 0, 4096, "download too slow: ", "below the minimum of 4096 bytes/s"},
		{"silent", 0, 0, -1, "download stalled: no data for 300ms", ""},
		{"silent, rate check on", 0, 0, 0, "download ", "300ms"},
		{"silent after a burst", 0, 64 << 10, -1, "download stalled: no data for 300ms", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int32
			srv := fileServer(t, variants["raw"], func(http.Handler) http.Handler {
				return trickle(t, variants["raw"], tc.gap, tc.burst, &hits)
			})
			tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
			start := time.Now()
			_, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw", StallTimeout: stall, MinRate: tc.minRate, Retries: retries}), tg)
			took := time.Since(start)
			if !isKind(err, KindDownload, boot.StepDownload) {
				t.Fatalf("Install(%s) = %#v, want a download error", tc.name, err)
			}
			got := causeOf(failure(t, err))
			if !strings.HasPrefix(got, tc.want) || !strings.Contains(got, tc.also) {
				t.Fatalf("Install(%s) error cause = %q, want %q…%q", tc.name, got, tc.want, tc.also)
			}
			// retries+1 requests of one stall timeout each (two at most for a
			// silence that began mid-window), plus short retry waits.
			if bound := time.Duration(2*(retries+1))*stall + 2*time.Second; took > bound {
				t.Errorf("Install(%s) took %v, want under %v", tc.name, took, bound)
			}
			if h := hits.Load(); h != retries+1 {
				t.Errorf("Install(%s) made %d requests, want %d (one and %d retries)", tc.name, h, retries+1, retries)
			}
			t.Logf("%s: %q after %v and %d requests", tc.name, got, took.Round(time.Millisecond), hits.Load())
		})
	}
}

// TestMinRateDefault: the zero Options get DefaultMinRate, and a negative
// value turns the check off.
func TestMinRateDefault(t *testing.T) {
	for _, tc := range []struct{ in, want int64 }{{0, DefaultMinRate}, {-1, -1}, {10, 10}} {
		if got := (Options{MinRate: tc.in}).withDefaults().MinRate; got != tc.want {
			t.Errorf("Options{MinRate: %d}.withDefaults().MinRate = %d, want %d", tc.in, got, tc.want)
		}
	}
}
