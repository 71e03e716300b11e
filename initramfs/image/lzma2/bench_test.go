package lzma2

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ulikunitz/xz/lzma"
)

var benchSize = flag.Int("lzma2bench.size", 32<<20, "bytes of data BenchmarkDecode decodes")

// BenchmarkDecode decodes raw LZMA2 data (xz --format=raw --lzma2=preset=1)
// with this package, with github.com/ulikunitz/xz/lzma and with the xz
// command, back to back.
func BenchmarkDecode(b *testing.B) {
	data := sample(*benchSize, 9)
	z := xzRaw(b, data, "preset=1")
	path := filepath.Join(b.TempDir(), "data.lzma2")
	if err := os.WriteFile(path, z, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("byoi", func(b *testing.B) {
		defer cpuTime(b, syscall.RUSAGE_SELF)()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r, err := NewReader(bytes.NewReader(z), 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
				b.Fatalf("decode = %d bytes, %v", n, err)
			}
		}
	})
	b.Run("ulikunitz", func(b *testing.B) {
		defer cpuTime(b, syscall.RUSAGE_SELF)()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			r, err := lzma.Reader2Config{DictCap: 1 << 20}.NewReader2(bytes.NewReader(z))
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
				b.Fatalf("decode = %d bytes, %v", n, err)
			}
		}
	})
	b.Run("xz-dc", func(b *testing.B) {
		defer cpuTime(b, syscall.RUSAGE_CHILDREN)()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			cmd := "xz -dc --format=raw --lzma2=preset=1 " + path + " | wc -c"
			if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
				b.Fatalf("%s: %v: %s", cmd, err, out)
			}
		}
	})
}

// cpuTime reports the user and system CPU time of who (this process or
// its children) per operation, less sensitive than wall time to other
// work on the machine; call the returned function at the end.
func cpuTime(b *testing.B, who int) func() {
	used := func() time.Duration {
		var u syscall.Rusage
		if err := syscall.Getrusage(who, &u); err != nil {
			b.Fatal(err)
		}
		return time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	start := used()
	return func() {
		b.ReportMetric(float64(used()-start)/float64(b.N), "cpu-ns/op")
	}
}
