package image

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ulikunitz/xz"
)

var xzBenchSize = flag.Int64("xzbench.size", 32<<20, "bytes of data BenchmarkXZ decodes")

// imageLike returns size bytes that compress like an OS image (as e2e/bench
// makes them): in each 64 KiB, one chunk in three is random, the others are
// runs of words copied from a 64 KiB vocabulary.
func imageLike(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	corpus := make([]byte, 64<<10)
	for i := range corpus {
		if rng.IntN(6) == 0 {
			corpus[i] = ' '
		} else {
			corpus[i] = 'a' + byte(rng.IntN(26))
		}
	}
	out := make([]byte, size)
	for c := 0; c < size; c += 64 << 10 {
		chunk := out[c:min(c+64<<10, size)]
		if rng.IntN(3) == 0 {
			for i := range chunk {
				chunk[i] = byte(rng.Uint32())
			}
			continue
		}
		for i := 0; i < len(chunk); {
			n := min(64+rng.IntN(961), len(chunk)-i)
			at := rng.IntN(len(corpus) - n)
			i += copy(chunk[i:i+n], corpus[at:at+n])
		}
	}
	return out
}

// xzTool compresses data with the xz command and args.
func xzTool(t testing.TB, data []byte, args ...string) []byte {
	t.Helper()
	needTool(t, "xz")
	cmd := exec.Command("xz", append([]string{"-c"}, args...)...)
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("xz %v: %v: %s", args, err, stderr.Bytes())
	}
	return out.Bytes()
}

// TestXZRoundTrip decodes what the xz command writes, with and without the
// parallel block decoder, and compares with the input.
func TestXZRoundTrip(t *testing.T) {
	data := imageLike(5<<20+12345, 1)
	small := data[:100_000]
	mb := "--block-size=256KiB"
	twoStreams := append(xzTool(t, small, "-1"), xzTool(t, data, "-0", "-C", "sha256")...)
	padded := append(append(xzTool(t, small, "-1"), make([]byte, 8)...), xzTool(t, small, "-3", "-C", "none")...)
	padded = append(padded, make([]byte, 12)...)
	for _, tc := range []struct {
		name  string
		z     []byte
		want  []byte
		async bool // expect blocks decoded by workers when workers > 1
	}{
		{"empty", xzTool(t, nil), nil, false},
		{"preset 0", xzTool(t, data, "-0"), data, false},
		{"preset 1", xzTool(t, data, "-1"), data, false},
		{"preset 6 extreme", xzTool(t, small, "-6e"), small, false},
		{"preset 9", xzTool(t, small, "-9"), small, false},
		{"check none", xzTool(t, data, "-1", "-C", "none"), data, false},
		{"check crc32", xzTool(t, data, "-1", "-C", "crc32"), data, false},
		{"check sha256", xzTool(t, data, "-1", "-C", "sha256"), data, false},
		{"tiny dictionary", xzTool(t, small, "--lzma2=dict=4KiB"), small, false},
		{"threads 2", xzTool(t, data, "-1", "-T2"), data, true},
		{"threads 2 blocks crc32", xzTool(t, data, "-1", "-T2", mb, "-C", "crc32"), data, true},
		{"threads 2 blocks sha256", xzTool(t, data, "-2", "-T2", mb, "-C", "sha256"), data, true},
		{"single thread blocks", xzTool(t, data, "-1", "-T1", mb), data, false},
		{"incompressible blocks", xzTool(t, data[len(data)-300_000:], "-1", "-T2", "--block-size=64KiB"), data[len(data)-300_000:], true},
		{"two streams", twoStreams, append(append([]byte{}, small...), data...), false},
		{"stream padding", padded, append(append([]byte{}, small...), small...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				x, err := newXZReader(bytes.NewReader(tc.z), workers)
				if err != nil {
					t.Fatalf("newXZReader(workers %d) = %v", workers, err)
				}
				var got bytes.Buffer
				_, err = got.ReadFrom(x)
				x.Close()
				if err != nil || !bytes.Equal(got.Bytes(), tc.want) {
					t.Errorf("decode(workers %d) = %d bytes, %v; want the %d input bytes", workers, got.Len(), err, len(tc.want))
				}
				if async := x.async > 0; workers > 1 && async != tc.async {
					t.Errorf("decode(workers %d) used workers for %d blocks, want some: %v", workers, x.async, tc.async)
				}
			}
		})
	}
}

// TestXZDecompress goes through decompress, as the installer does, and
// checks a refused stream keeps its cause for errors.Is.
func TestXZDecompress(t *testing.T) {
	data := imageLike(1<<20, 2)
	z := xzTool(t, data, "-1", "-T2", "--block-size=128KiB")
	bad := bytes.Clone(z)
	bad[len(bad)/2] ^= 0x40
	for _, tc := range []struct {
		name    string
		z       []byte
		wantErr error
	}{
		{"valid", z, nil},
		{"damaged", bad, errXZCorrupt},
		{"huge dictionary", xzBuild{check: 1, prop: 38}.stream(data[:10]), errXZLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := decompress("xz", bytes.NewReader(tc.z), 2, nil)
			if err != nil {
				t.Fatalf("decompress(xz) = %v", err)
			}
			var got bytes.Buffer
			_, err = got.ReadFrom(dec)
			dec.Close()
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("read = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil {
				if diff := cmp.Diff(len(data), got.Len()); diff != "" || !bytes.Equal(got.Bytes(), data) {
					t.Errorf("decoded length diff (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// BenchmarkXZ decodes image-like data (-xzbench.size bytes) compressed with
// xz -1 (one block) and xz -1 -T2 (3 MiB blocks), with this decoder, with
// ulikunitz/xz's reader (used before) and with the xz command (its output
// to /dev/null), back to back. Besides wall time it reports cpu-ns/op, the
// CPU time used, which a busy machine disturbs less.
func BenchmarkXZ(b *testing.B) {
	needTool(b, "xz")
	data := imageLike(int(*xzBenchSize), 3)
	dir := b.TempDir()
	for _, f := range []struct{ name, args string }{{"single", "-1"}, {"multi", "-1 -T2"}} {
		z := xzTool(b, data, strings.Fields(f.args)...)
		path := filepath.Join(dir, f.name+".xz")
		if err := os.WriteFile(path, z, 0o644); err != nil {
			b.Fatal(err)
		}
		for _, workers := range []int{1, 2} {
			b.Run(f.name+"/byoi-workers"+string(rune('0'+workers)), func(b *testing.B) {
				defer cpuTime(b, syscall.RUSAGE_SELF)()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					x, err := newXZReader(bytes.NewReader(z), workers)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, x)
					if err != nil || n != int64(len(data)) {
						b.Fatalf("decode = %d bytes, %v", n, err)
					}
				}
			})
		}
		b.Run(f.name+"/ulikunitz-xz-reader", func(b *testing.B) { // the decoder used before
			defer cpuTime(b, syscall.RUSAGE_SELF)()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				r, err := xz.ReaderConfig{DictCap: maxXZDict}.NewReader(bytes.NewReader(z))
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(data)) {
					b.Fatalf("decode = %d bytes, %v", n, err)
				}
			}
		})
		for _, threads := range []string{"-T1", "-T2"} {
			b.Run(f.name+"/xz-dc"+threads, func(b *testing.B) {
				defer cpuTime(b, syscall.RUSAGE_CHILDREN)()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					cmd := exec.Command("xz", "-dc", threads, path)
					null, err := os.Create(os.DevNull)
					if err != nil {
						b.Fatal(err)
					}
					var stderr bytes.Buffer
					cmd.Stdout, cmd.Stderr = null, &stderr
					err = cmd.Run()
					null.Close()
					if err != nil {
						b.Fatalf("xz -dc: %v: %s", err, stderr.Bytes())
					}
				}
			})
		}
	}
}

// cpuTime reports the user and system CPU time of who (this process or
// its children) per operation; call the returned function at the end.
func cpuTime(b *testing.B, who int) func() {
	used := func() time.Duration {
		var u syscall.Rusage
		if err := syscall.Getrusage(who, &u); err != nil {
			b.Fatal(err)
		}
		return time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	start := used()
	return func() { b.ReportMetric(float64(used()-start)/float64(b.N), "cpu-ns/op") }
}
