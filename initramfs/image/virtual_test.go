package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestVirtualRandomReads reads every qcow2 variant at random offsets and
// lengths (cluster-crossing, unaligned, into zero and compressed clusters)
// through OpenVirtual and compares with the raw image qemu-img made them
// from, then checks the digest covers the whole file.
func TestVirtualRandomReads(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	const size = 96 * mib
	makeRaw(t, raw, size, 11)
	// 24 MiB of dense data: the file outgrows the block cache, so reads
	// behind the stream need Range requests.
	dense := make([]byte, 24*mib)
	rand.NewChaCha8([32]byte{1}).Read(dense)
	if f, err := os.OpenFile(raw, os.O_WRONLY, 0); err != nil {
		t.Fatal(err)
	} else if _, err := f.WriteAt(dense, 40*mib); err != nil || f.Close() != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	refetched := int64(0)
	for name, path := range qcow2Variants(t, dir, raw) {
		t.Run(name, func(t *testing.T) {
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(file)
			srv := fileServer(t, path, nil)
			v, err := OpenVirtual(testCtx(t), fast(Options{URL: srv.URL, Type: "qcow2",
				ChecksumType: "sha256", Checksum: hex.EncodeToString(sum[:])}))
			if err != nil {
				t.Fatalf("OpenVirtual() = %v", err)
			}
			defer v.Close()
			if v.Size() != size {
				t.Fatalf("Size() = %d, want %d", v.Size(), size)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			// Hot spots of the raw image (data, hole, end) then anywhere.
			offs := []int64{0, 1*mib - 100, 10*mib + 100, 20*mib + 65536 - 7, size - 4096, size - 1}
			for range 300 {
				offs = append(offs, rng.Int64N(size))
			}
			for _, off := range offs {
				n := 1 + rng.IntN(200<<10)
				got := make([]byte, n)
				m, err := v.ReadAt(got, off)
				wantN := min(int64(n), size-off)
				if int64(m) != wantN || (m < n && err != io.EOF) || (m == n && err != nil) {
					t.Fatalf("ReadAt(%d bytes, %d) = %d, %v; want %d", n, off, m, err, wantN)
				}
				if !bytes.Equal(got[:m], want[off:off+int64(m)]) {
					t.Fatalf("ReadAt(%d bytes, %d): content differs from qemu-img's raw", n, off)
				}
			}
			res, err := v.Verify()
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			if res.Digest != hex.EncodeToString(sum[:]) || res.VirtualSize != size {
				t.Errorf("Verify() = %+v, want digest %x", res, sum)
			}
			t.Logf("%s: file %d bytes, downloaded %d, refetched blocks %d", name, len(file), res.Downloaded, v.Refetched())
			refetched += v.Refetched()
		})
	}
	if refetched == 0 {
		t.Errorf("no block was fetched again: the test did not read behind the stream")
	}
}

// Concurrent readers get the same bytes as a serial one.
func TestVirtualConcurrent(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	makeRaw(t, raw, 48*mib, 5)
	want, _ := os.ReadFile(raw)
	img := qcow2Variants(t, dir, raw)["qcow2-zlib"]
	v, err := OpenVirtual(testCtx(t), fast(Options{URL: fileServer(t, img, nil).URL, Type: "qcow2"}))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			buf := make([]byte, 64<<10)
			for range 100 {
				off := rng.Int64N(int64(len(want)) - int64(len(buf)))
				if _, err := v.ReadAt(buf, off); err != nil || !bytes.Equal(buf, want[off:off+int64(len(buf))]) {
					errs <- errors.New("concurrent ReadAt returned wrong data or an error")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// qcow2Variants converts raw into the qcow2 flavours (makeVariants without
// the slow compressed raw files).
func qcow2Variants(t testing.TB, dir, raw string) map[string]string {
	t.Helper()
	qemuImg := needTool(t, "qemu-img")
	out := map[string]string{}
	for name, args := range map[string][]string{
		"qcow2-v2":   {"-o", "compat=0.10"},
		"qcow2-v3":   {"-o", "compat=1.1,cluster_size=4096"},
		"qcow2-zlib": {"-c", "-o", "compat=1.1"},
		"qcow2-zstd": {"-c", "-o", "compat=1.1,compression_type=zstd,cluster_size=2M"},
	} {
		p := filepath.Join(dir, name+".qcow2")
		run(t, qemuImg, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, p)...)
		out[name] = p
	}
	return out
}

func TestVirtualRefusals(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	makeRaw(t, raw, 8*mib, 1)
	variants := qcow2Variants(t, dir, raw)
	variants["raw-gzip"] = filepath.Join(dir, "raw.gz")
	compressFile(t, raw, variants["raw-gzip"], "gzip")
	bad := filepath.Join(dir, "bad.qcow2")
	b, _ := os.ReadFile(variants["qcow2-v3"])
	copy(b[20:24], []byte{0, 0, 0, 40}) // cluster_bits 40
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("0", 64)
	tests := []struct {
		name, path, typ, sum string
		want                 Kind
		verify               bool
	}{
		{"raw", raw, "qcow2", "", KindFormatMismatch, false},
		{"gzip", variants["raw-gzip"], "qcow2", "", KindFormatMismatch, false},
		{"raw type", variants["qcow2-v3"], "raw", "", KindBadImageType, false},
		{"broken header", bad, "qcow2", "", KindBadQcow2, false},
		{"bad checksum", variants["qcow2-v3"], "qcow2", sum, KindChecksumMismatch, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fast(Options{URL: fileServer(t, tt.path, nil).URL, Type: tt.typ})
			if tt.sum != "" {
				o.ChecksumType, o.Checksum = "sha256", tt.sum
			}
			v, err := OpenVirtual(testCtx(t), o)
			if err == nil && tt.verify {
				_, err = v.Verify()
				v.Close()
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.want {
				t.Fatalf("OpenVirtual(%s) = %v, want an *Error of kind %s", tt.name, err, tt.want)
			}
			if tt.name == "gzip" && e.Found != "gzip" {
				t.Errorf("OpenVirtual(gzip) found %q, want gzip", e.Found)
			}
		})
	}
}

// The kernel may leave the download unread for longer than the stall
// time-out (it reads when it needs blocks): pauses between reads are not
// stalls, and the image is downloaded once.
func TestVirtualPausedReads(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	makeRaw(t, raw, 64*mib, 3)
	img := qcow2Variants(t, dir, raw)["qcow2-v3"]
	want, _ := os.ReadFile(raw)
	st, _ := os.Stat(img)
	var requests atomic.Int64
	count := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1); h.ServeHTTP(w, r) })
	}
	o := fast(Options{URL: fileServer(t, img, count).URL, Type: "qcow2", StallTimeout: 100 * time.Millisecond, MinRate: 1 << 20, Retries: 1})
	v, err := OpenVirtual(testCtx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	buf := make([]byte, 64<<10)
	for _, off := range []int64{0, 4 * mib, 8 * mib, 20 * mib, 40 * mib, 63 * mib} {
		time.Sleep(300 * time.Millisecond) // three stall time-outs without reading
		if _, err := v.ReadAt(buf, off); err != nil || !bytes.Equal(buf, want[off:off+int64(len(buf))]) {
			t.Fatalf("ReadAt(%d) after a pause = %v or wrong data", off, err)
		}
	}
	res, err := v.Verify()
	if err != nil {
		t.Fatalf("Verify() = %v", err)
	}
	if res.Downloaded != st.Size() || requests.Load() != 1 {
		t.Errorf("downloaded %d bytes in %d requests, want the file's %d in one", res.Downloaded, requests.Load(), st.Size())
	}
}
