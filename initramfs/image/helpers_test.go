package image

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

const mib = 1 << 20

// needTool skips (or fails under BYOI_INTEGRATION=1) when a tool is missing.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("%s not found: %v (install qemu-utils)", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// makeRaw writes a sparse raw disk image of size bytes with a GPT signature
// and random data regions (some unaligned, one with a zero hole inside).
func makeRaw(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	fill := func(off, n int64) {
		b := make([]byte, n)
		fillRandom(b, rng.Uint64())
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	mbr := make([]byte, 1024)
	mbr[450] = 0xee
	mbr[510], mbr[511] = 0x55, 0xaa
	copy(mbr[512:], "EFI PART")
	if _, err := f.WriteAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	fill(1*mib, 1*mib)
	fill(10*mib+123, 300<<10)
	fill(20*mib, 2*mib)
	if _, err := f.WriteAt(make([]byte, 8192), 20*mib+65536); err != nil { // zero hole in data
		t.Fatal(err)
	}
	for off := int64(32 * mib); off+mib < size-mib; off += 16 * mib {
		fill(off+int64(rng.IntN(4096)), 64<<10)
	}
	fill(size-512*1024, 512*1024)
}

// fillRandom fills b with pseudo-random bytes from seed: ChaCha8 filling
// the whole buffer at once (a generator call per byte dominated the tests'
// time under -race).
func fillRandom(b []byte, seed uint64) { chacha8(seed).Read(b) }

// chacha8 returns a ChaCha8 generator seeded with seed.
func chacha8(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

// makeVariants builds every supported format from one raw image and returns
// name → path.
func makeVariants(t testing.TB, dir, raw string) map[string]string {
	t.Helper()
	qemuImg := needTool(t, "qemu-img")
	out := map[string]string{"raw": raw}
	for name, args := range map[string][]string{
		"qcow2-v2":   {"-o", "compat=0.10"},
		"qcow2-v3":   {"-o", "compat=1.1"},
		"qcow2-zlib": {"-c", "-o", "compat=1.1"},
		"qcow2-zstd": {"-c", "-o", "compat=1.1,compression_type=zstd"},
	} {
		p := filepath.Join(dir, name+".qcow2")
		run(t, qemuImg, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, p)...)
		out[name] = p
	}
	for _, kind := range []string{"gzip", "xz", "zstd"} {
		p := filepath.Join(dir, "raw."+kind)
		compressFile(t, raw, p, kind)
		out["raw-"+kind] = p
	}
	return out
}

// compressFile compresses src into dst: gzip and zstd with the Go
// encoders, xz with the xz command (single-threaded: one block, as the Go
// encoder writes; the pure-Go encoder cost minutes under -race).
func compressFile(t testing.TB, src, dst, kind string) {
	t.Helper()
	if kind == "xz" {
		out, err := os.Create(dst)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		cmd := exec.Command(needTool(t, "xz"), "-c", "-T1", src)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("xz -c -T1 %s: %v\n%s", src, err, stderr.Bytes())
		}
		return
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var w io.WriteCloser
	switch kind {
	case "gzip":
		w = gzip.NewWriter(out)
	case "zstd":
		w, err = zstd.NewWriter(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// garbageTarget creates a file target of size bytes full of non-zero bytes.
func garbageTarget(t testing.TB, path string, size int64) *FileTarget {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("old data\xff\x01"), mib/10+1)[:mib]
	for off := int64(0); off < size; off += mib {
		if _, err := f.WriteAt(chunk[:min(mib, size-off)], off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	tg, err := OpenTarget(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

// oracle converts img to raw with qemu-img.
func oracle(t testing.TB, img, dst string) {
	t.Helper()
	run(t, needTool(t, "qemu-img"), "convert", "-O", "raw", img, dst)
}

// sameContent compares the first n bytes of two files.
func sameContent(t testing.TB, a, b string, n int64) {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, mib), make([]byte, mib)
	for off := int64(0); off < n; off += mib {
		c := min(mib, n-off)
		if _, err := fa.ReadAt(ba[:c], off); err != nil {
			t.Fatalf("read %s at %d: %v", a, off, err)
		}
		if _, err := fb.ReadAt(bb[:c], off); err != nil {
			t.Fatalf("read %s at %d: %v", b, off, err)
		}
		if !bytes.Equal(ba[:c], bb[:c]) {
			for i := range c {
				if ba[i] != bb[i] {
					t.Fatalf("%s and %s differ at byte %d: %#x vs %#x", a, b, off+i, ba[i], bb[i])
				}
			}
		}
	}
}

// fileServer serves path with ETag and Range support (http.ServeContent),
// wrapped by mw if not nil.
func fileServer(t testing.TB, path string, mw func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		st, _ := f.Stat()
		w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, st.Size(), st.ModTime().UnixNano()))
		http.ServeContent(w, r, "", st.ModTime(), f)
	})
	if mw != nil {
		h = mw(h)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

// noRange serves the whole file to every request, ignoring Range.
func noRange(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		st, _ := f.Stat()
		w.Header().Set("Content-Length", fmt.Sprint(st.Size()))
		io.Copy(w, f)
	})
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fast returns options with quick retries for tests.
func fast(o Options) Options {
	o.RetryWait = 10 * time.Millisecond
	if o.StallTimeout == 0 {
		o.StallTimeout = 5 * time.Second
	}
	return o
}
