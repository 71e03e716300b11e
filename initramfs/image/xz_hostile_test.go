package image

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// xzErrKind names which of the decoder's error kinds err is.
func xzErrKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{{errXZCorrupt, "corrupt"}, {errXZLimit, "limit"}, {errXZUnsupported, "unsupported"}} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	if err == nil {
		return "ok"
	}
	return "other: " + err.Error()
}

// decodeMeasured decodes z and returns the error kind and the bytes the
// decoder allocated meanwhile.
func decodeMeasured(z []byte, workers int) (string, uint64, time.Duration) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	_, err := decodeXZ(z, workers, 1<<30)
	d := time.Since(t0)
	runtime.ReadMemStats(&after)
	return xzErrKind(err), after.TotalAlloc - before.TotalAlloc, d
}

// TestXZHostile feeds streams that lie about their sizes, ask for huge
// dictionaries or use features the installer does not decode: each is
// refused with the right kind of error, quickly and without allocating
// what it asks for (beyond the fixed 1 MiB output chunk).
func TestXZHostile(t *testing.T) {
	data := bytes.Repeat([]byte("hostile "), 125)
	crc := xzBuild{check: 1}
	for _, tc := range []struct {
		name     string
		z        []byte
		want     string
		maxAlloc uint64
	}{
		{"valid", crc.stream(data), "ok", 2 << 20},
		{"dictionary 64 MiB, small block", xzBuild{check: 1, prop: 28}.stream(data), "ok", 2 << 20},
		{"dictionary 64 MiB, no sizes", xzBuild{check: 1, prop: 28, noSize: true}.stream(data), "ok", 66 << 20},
		{"dictionary 96 MiB", xzBuild{check: 1, prop: 29}.stream(data), "limit", 2 << 20},
		{"dictionary 1 GiB", xzBuild{check: 1, prop: 36, noSize: true}.stream(data), "limit", 2 << 20},
		{"dictionary 4 GiB", xzBuild{check: 4, prop: 40}.stream(data), "limit", 2 << 20},
		{"dictionary property 41", xzBuild{check: 1, prop: 41}.stream(data), "corrupt", 2 << 20},
		{"delta filter", xzBuild{check: 1, filters: [][]byte{{0x03, 1, 0}}}.stream(data), "unsupported", 2 << 20},
		{"x86 filter", xzBuild{check: 1, filters: [][]byte{{0x04, 0}}}.stream(data), "unsupported", 2 << 20},
		{"unknown filter", xzBuild{check: 1, filters: [][]byte{{0x7f, 0}}}.stream(data), "unsupported", 2 << 20},
		{"two LZMA2 filters", xzBuild{check: 1, filters: [][]byte{{0x21, 1, 0}}}.stream(data), "corrupt", 2 << 20},
		{"reserved block flag", xzBuild{check: 1, flags: 0x04}.stream(data), "unsupported", 2 << 20},
		{"check type 2", xzBuild{check: 2}.stream(data), "unsupported", 2 << 20},
		{"compressed size 2^62", xzBuild{check: 1, compressed: 1 << 62}.stream(data), "corrupt", 2 << 20},
		{"compressed size 1", xzBuild{check: 1, compressed: 1}.stream(data), "corrupt", 2 << 20},
		{"compressed size 20 MiB", xzBuild{check: 1, compressed: 20 << 20}.stream(data), "corrupt", 2 << 20},
		{"uncompressed size 2^62", xzBuild{check: 1, uncompressed: 1 << 62}.stream(data), "corrupt", 2 << 20},
		{"uncompressed size 10 MiB", xzBuild{check: 1, uncompressed: 10 << 20}.stream(data), "corrupt", 11 << 20},
		{"uncompressed size short", xzBuild{check: 1, uncompressed: 10}.stream(data), "corrupt", 2 << 20},
		{"index lists 2^62 blocks", xzBuild{check: 1, count: 1 << 62}.stream(data), "corrupt", 2 << 20},
		{"index lists 2 blocks", xzBuild{check: 1, count: 2}.stream(data), "corrupt", 2 << 20},
		{"garbage after the stream", append(crc.stream(data), 0, 0, 0, 0, 1, 2, 3, 4), "corrupt", 2 << 20},
		{"padding of 3 bytes", append(crc.stream(data), 0, 0, 0), "corrupt", 2 << 20},
		{"padding of 8 bytes", append(crc.stream(data), make([]byte, 8)...), "ok", 2 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, workers := range []int{1, 2} {
				kind, alloc, d := decodeMeasured(tc.z, workers)
				if kind != tc.want {
					t.Errorf("decode(workers %d) = %s, want %s", workers, kind, tc.want)
				}
				if alloc > tc.maxAlloc || d > 5*time.Second {
					t.Errorf("decode(workers %d) allocated %d KiB in %v, want at most %d KiB", workers, alloc>>10, d, tc.maxAlloc>>10)
				}
			}
		})
	}
}

// TestXZEveryByte damages each byte of small files in turn (every field is
// covered by a CRC, the check or a magic) and truncates them at every
// length: each must be refused, never decoded wrongly, never panic.
func TestXZEveryByte(t *testing.T) {
	data := []byte("every byte of an xz file is checked by something")
	for _, o := range []xzBuild{{check: 1}, {check: 4, noSize: true}, {check: 10}} {
		z := o.stream(data, data[:5])
		for i := range z {
			for _, flip := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(z)
				bad[i] ^= flip
				for _, workers := range []int{1, 2} {
					_, err := decodeXZ(bad, workers, 1<<20)
					if kind := xzErrKind(err); kind == "ok" || strings.HasPrefix(kind, "other") {
						t.Fatalf("check %d: decode(byte %d ^ %#x, workers %d) = %v, want an xz error", o.check, i, flip, workers, err)
					}
				}
			}
		}
		for n := range len(z) {
			if _, err := decodeXZ(z[:n], 2, 1<<20); xzErrKind(err) != "corrupt" {
				t.Fatalf("check %d: decode(first %d of %d bytes) = %v, want corrupt", o.check, n, len(z), err)
			}
		}
	}
}

// TestXZBudget decodes many small blocks with workers and checks the data
// arrives in order and the budget is given back.
func TestXZBudget(t *testing.T) {
	var blocks [][]byte
	var want []byte
	for i := range 40 {
		b := imageLike(100_000+i*4099, uint64(i))
		blocks = append(blocks, b)
		want = append(want, b...)
	}
	z := xzBuild{check: 4}.stream(blocks...)
	x, err := newXZReader(bytes.NewReader(z), 2)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(x); err != nil {
		t.Fatalf("decode = %v", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("decode = %d bytes, not the %d bytes of the 40 blocks in order", got.Len(), len(want))
	}
	if diff := cmp.Diff(struct{ Async, Budget int }{40, 0}, struct{ Async, Budget int }{x.async, len(x.budget)}); diff != "" {
		t.Errorf("blocks on workers, budget held at the end (-want +got):\n%s", diff)
	}
}
