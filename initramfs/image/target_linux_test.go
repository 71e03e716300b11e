package image

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"testing"
	"unsafe"
)

func TestAlignedBuf(t *testing.T) {
	for _, n := range []int{1, 4095, 4096, 1 << 20, 2<<20 + 512} {
		b := alignedBuf(n)
		if len(b) != n || cap(b) != n {
			t.Errorf("alignedBuf(%d): len %d cap %d, want both %d", n, len(b), cap(b), n)
		}
		if a := uintptr(unsafe.Pointer(&b[0])) % bufAlign; a != 0 {
			t.Errorf("alignedBuf(%d) starts %d bytes past a %d boundary", n, a, bufAlign)
		}
	}
}

func TestFileTargetAligned(t *testing.T) {
	buf := alignedBuf(3 * 4096)
	for _, tc := range []struct {
		name  string
		align int
		p     []byte
		off   int64
		want  bool
	}{
		{"aligned 512", 512, buf[:4096], 8192, true},
		{"slice at 512", 512, buf[512:1024], 512, true},
		{"offset off 512", 512, buf[:4096], 100, false},
		{"length off 512", 512, buf[:4000], 0, false},
		{"memory off 512", 512, buf[1:513], 0, false},
		{"empty", 512, buf[:0], 0, false},
		{"no direct I/O", 0, buf[:4096], 0, false},
		{"aligned 4096", 4096, buf[4096:8192], 4096, true},
		{"512 on a 4096 device", 4096, buf[:512], 0, false},
		{"memory at 512 on a 4096 device", 4096, buf[512:4608], 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft := &FileTarget{align: tc.align}
			if got := ft.aligned(tc.p, tc.off); got != tc.want {
				t.Errorf("aligned(len %d, off %d) with alignment %d = %v, want %v", len(tc.p), tc.off, tc.align, got, tc.want)
			}
		})
	}
}

// TestFileTargetDirect writes a loop device with a mix of aligned writes
// (direct I/O), unaligned ones (page cache) and zero ranges that overlap
// them, and checks the device against a model of the expected bytes, for
// 512-byte and 4 KiB logical blocks.
func TestFileTargetDirect(t *testing.T) {
	type op struct {
		off, n int64
		shift  int  // bytes into an aligned buffer: 1 makes the memory unaligned
		zero   bool // ZeroRange instead of WriteAt
	}
	const size = 8 * mib
	ops := []op{
		{off: 0, n: mib},                       // aligned
		{off: mib + 100, n: 1000},              // unaligned offset and length
		{off: 2 * mib, n: 512},                 // a single sector
		{off: 2*mib + 512, n: 3584},            // rest of that page
		{off: 3 * mib, n: 64 * 1024, shift: 1}, // unaligned memory
		{off: 300, n: 8192, zero: true},        // zero across direct-written data
		{off: 4 * mib, n: 2 * mib},             // large aligned write
		{off: 5*mib - 4096, n: 8192},           // rewrite inside it
		{off: 5 * mib, n: mib, zero: true},
		{off: 7*mib + 7, n: mib - 7}, // unaligned up to the end
	}
	for _, sector := range []int{512, 4096} {
		t.Run("sector "+strconv.Itoa(sector), func(t *testing.T) {
			dev := loopDevice(t, size, "--sector-size", strconv.Itoa(sector))
			want := readAll(t, dev, size)
			tg, err := OpenTarget(dev)
			if err != nil {
				t.Fatalf("OpenTarget(%s) = %v", dev, err)
			}
			defer tg.Close()
			if tg.direct == nil || tg.align != sector {
				t.Fatalf("OpenTarget(%s): direct %v, alignment %d; want direct I/O with alignment %d", dev, tg.direct != nil, tg.align, sector)
			}
			for i, o := range ops {
				if o.zero {
					if err := tg.ZeroRange(o.off, o.n); err != nil {
						t.Fatalf("ZeroRange(%d, %d) = %v", o.off, o.n, err)
					}
					clear(want[o.off : o.off+o.n])
					continue
				}
				p := alignedBuf(int(o.n) + o.shift)[o.shift:]
				for j := range p {
					p[j] = byte(i*31 + j%251 + 1)
				}
				if n, err := tg.WriteAt(p, o.off); n != len(p) || err != nil {
					t.Fatalf("WriteAt(%d bytes, %d) = %d, %v", len(p), o.off, n, err)
				}
				copy(want[o.off:], p)
			}
			if err := tg.Sync(); err != nil {
				t.Fatalf("Sync() = %v", err)
			}
			if tg.direct == nil {
				t.Errorf("direct I/O was turned off during the writes")
			}
			got := readAll(t, dev, size)
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s at %d = %#x, want %#x", dev, i, got[i], want[i])
			}
		})
	}
}

func readAll(t *testing.T, path string, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// firstDiff returns the first offset where a and b differ, -1 if none.
func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
