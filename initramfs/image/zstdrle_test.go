package image

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// zstdBlocks counts a zstd stream's blocks by type (raw, RLE,
// compressed), following frames and skippable frames.
func zstdBlocks(t *testing.T, z []byte) [3]int {
	t.Helper()
	var n [3]int
	for p := 0; p < len(z); {
		magic := binary.LittleEndian.Uint32(z[p:])
		if magic&^0xf == 0x184d2a50 {
			p += 8 + int(binary.LittleEndian.Uint32(z[p+4:]))
			continue
		}
		if magic != 0xfd2fb528 {
			t.Fatalf("no frame at %d", p)
		}
		fhd := z[p+4]
		p += 5 + [4]int{0, 1, 2, 4}[fhd&3] + [4]int{0, 2, 4, 8}[fhd>>6]
		if fhd>>5&1 == 0 {
			p++
		} else if fhd>>6 == 0 {
			p++
		}
		for {
			h := int(z[p]) | int(z[p+1])<<8 | int(z[p+2])<<16
			p += 3
			typ := h >> 1 & 3
			n[typ]++
			if typ == 1 {
				p++
			} else {
				p += h >> 3
			}
			if h&1 == 1 {
				break
			}
		}
		if fhd>>2&1 == 1 {
			p += 4
		}
	}
	return n
}

// decodeZstd decodes z with the installer's settings, through rleAsRaw or
// not.
func decodeZstd(z []byte, rewrite bool) ([]byte, error) {
	var r io.Reader = bytes.NewReader(z)
	if rewrite {
		r = newRLEAsRaw(r)
	}
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(maxZstdWindow))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return io.ReadAll(io.LimitReader(d, 64<<20))
}

// TestRLEAsRaw: streams written by the zstd command (levels, checksums on
// and off, content size in the header or not, several frames, skippable
// frames) hold RLE blocks; through rleAsRaw they hold none, and decode to
// the same bytes. Read sizes of 1 byte to 1 MiB.
func TestRLEAsRaw(t *testing.T) {
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Fatalf("the zstd command is needed (Debian package zstd): %v", err)
	}
	// Random bytes, text, then runs of zeros and of 0xff: raw, compressed
	// and RLE blocks.
	data := make([]byte, 3<<20)
	fillRandom(data[:512<<10], 5)
	copy(data[512<<10:1<<20], bytes.Repeat([]byte("byoi writes the image to the disk. "), 15000))
	for i := 2 << 20; i < 2<<20+300<<10; i++ {
		data[i] = 0xff
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var streams [][]byte
	for _, args := range [][]string{{"-1"}, {"-3", "--no-check"}, {"-19"}, {"-3", "--no-content-size"}} {
		out, err := exec.Command("zstd", append(args, "-c", in)...).Output()
		if err != nil {
			t.Fatalf("zstd %v: %v", args, err)
		}
		streams = append(streams, out)
	}
	streams = append(streams,
		bytes.Join([][]byte{streams[0], skippable(3, []byte("byoi")), streams[1]}, nil),
		append(skippable(0, nil), streams[2]...))
	for i, z := range streams {
		want, err := decodeZstd(z, false)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if before := zstdBlocks(t, z); before[1] == 0 {
			t.Fatalf("stream %d has no RLE block: %v", i, before)
		}
		var out bytes.Buffer
		for _, size := range []int{1, 7, 4096, 1 << 20} {
			out.Reset()
			r := newRLEAsRaw(bytes.NewReader(z))
			buf := make([]byte, size)
			if _, err := io.CopyBuffer(struct{ io.Writer }{&out}, struct{ io.Reader }{r}, buf); err != nil {
				t.Fatalf("stream %d, reads of %d: %v", i, size, err)
			}
			if after := zstdBlocks(t, out.Bytes()); after[1] != 0 {
				t.Fatalf("stream %d, reads of %d: %d RLE blocks left", i, size, after[1])
			}
		}
		got, err := decodeZstd(out.Bytes(), false)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("stream %d rewritten: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
		if !bytes.Equal(want, data) && !bytes.Equal(want, append(append([]byte{}, data...), data...)) {
			t.Fatalf("stream %d decodes to %d bytes, not the data", i, len(want))
		}
	}
}

// FuzzRLEAsRaw: whatever the input, decoding it through rleAsRaw gives
// what decoding it directly gives: the same bytes, or an error in both.
func FuzzRLEAsRaw(f *testing.F) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		f.Fatal(err)
	}
	data := make([]byte, 300<<10)
	fillRandom(data[:50<<10], 1)
	copy(data[50<<10:100<<10], bytes.Repeat([]byte("text "), 10000))
	f.Add(enc.EncodeAll(data, nil))
	f.Add(append(skippable(1, []byte{1, 2}), enc.EncodeAll(data[:70000], nil)...))
	// A frame of one RLE block: 200000 bytes of 7 (too large for a block).
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0x03, 0xa6, 0x61, 0x07})
	// A frame of one RLE block of 1000 zeros, checksum flag set.
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00, 0x1b, 0x4d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, z []byte) {
		want, werr := decodeZstd(z, false)
		got, gerr := decodeZstd(z, true)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("decode = %v, through rleAsRaw = %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("through rleAsRaw: %d bytes, want %d", len(got), len(want))
		}
		if werr != nil && errors.Is(gerr, io.ErrShortBuffer) {
			t.Fatalf("through rleAsRaw: %v", gerr)
		}
	})
}
