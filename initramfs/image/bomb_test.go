package image

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"

	"github.com/byoi/byoi/boot"
)

// endless serves first, then rest over and over until the client goes
// away, without a Content-Length: a stream that never ends.
func endless(t testing.TB, first, rest []byte) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := w.Write(first); err != nil {
			return
		}
		for r.Context().Err() == nil {
			if _, err := w.Write(rest); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// TestStreamPastTarget: a stream that decodes to more than the target
// holds (a decompression bomb, or raw data served without a length) fails
// at the first byte past the end of the target, as "at least size+1
// bytes", without decoding the rest (the old code decoded on until it
// learned the real size: 3.6-43 s for a 10 GiB bomb). The streams here never end: an
// installer that decodes the rest to learn the real size never returns.
func TestStreamPastTarget(t *testing.T) {
	const disk = 16 * mib
	head := make([]byte, 4*mib)
	copy(head, mbrSector())
	zeros := make([]byte, 4*mib)
	for _, kind := range []string{"", "gzip", "zstd", "xz"} {
		name := kind
		if name == "" {
			name = "raw without length"
		}
		t.Run(name, func(t *testing.T) {
			first, rest := head, zeros
			if kind != "" {
				zst, err := zstd.NewWriter(nil)
				if err != nil {
					t.Fatal(err)
				}
				first, rest = compressBytes(t, zst, kind, head), compressBytes(t, zst, kind, zeros)
				zst.Close()
			}
			srv := endless(t, first, rest)
			path := filepath.Join(t.TempDir(), "disk")
			tg := garbageTarget(t, path, disk)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			res, err := Install(ctx, fast(Options{URL: srv.URL, Type: "raw"}), tg)
			want := &Error{Kind: KindTooLarge, Step: boot.StepCheck, Size: disk + 1, AtLeast: true, Target: path, TargetSize: disk}
			if diff := cmp.Diff(want, failure(t, err), noCause); diff != "" {
				t.Fatalf("Install(endless %s) error mismatch (-want +got):\n%s", name, diff)
			}
			// The stream is read a block or two past what the target holds.
			if limit := int64(disk + 2*mib); res.Downloaded > limit {
				t.Errorf("Install(endless %s) downloaded %d bytes, want at most %d", name, res.Downloaded, limit)
			}
			t.Logf("%s: refused after %v, %d bytes downloaded", name, time.Since(start).Round(time.Millisecond), res.Downloaded)
		})
	}
}

// mbrSector is an MBR with one partition and the boot signature.
func mbrSector() []byte {
	b := make([]byte, 512)
	b[446+4] = 0x83
	b[446+9] = 0x08
	b[446+12] = 0xff
	b[510], b[511] = 0x55, 0xaa
	return b
}
