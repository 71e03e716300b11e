package image

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// withXZDict returns z with the LZMA2 dictionary property of its first
// block set to prop and the block header's CRC32 made right again: the
// shape of the input the 2026-11-24 fuzz campaign found (a tiny stream
// asking for a 1 GiB dictionary).
func withXZDict(t testing.TB, z []byte, prop byte) []byte {
	t.Helper()
	z = bytes.Clone(z)
	size := (int(z[12]) + 1) * 4
	h := z[12 : 12+size]
	i := bytes.Index(h[2:], []byte{xzLZMA2, 1})
	if i < 0 {
		t.Fatalf("no LZMA2 filter in block header %x", h)
	}
	h[2+i+2] = prop
	binary.LittleEndian.PutUint32(h[size-4:], crc32.ChecksumIEEE(h[:size-4]))
	return z
}

// FuzzXZ drives the xz decoder with arbitrary files, with and without the
// parallel block decoder: it never panics, fails only with its own error
// kinds, and both ways give the same bytes. Every input is also packed into
// xz files (stored LZMA2 chunks with each check type, and ulikunitz/xz's
// encoder) that must decode back to it.
func FuzzXZ(f *testing.F) {
	zst, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Fatal(err)
	}
	five := compressBytes(f, zst, "xz", []byte("hello"))
	text := []byte(strings.Repeat("fuzz the xz container ", 40))
	for _, seed := range [][]byte{
		nil, xzMagic, five, withXZDict(f, five, 36), withXZDict(f, five, 40), withXZDict(f, five, 28),
		compressBytes(f, zst, "xz", text),
		xzBuild{check: 1}.stream(text), xzBuild{check: 4, noSize: true}.stream(text, text[:9]),
		xzBuild{check: 10}.stream(), xzBuild{check: 0, prop: 36}.stream(text),
		xzBuild{check: 1, filters: [][]byte{{0x03, 1, 0}}}.stream(text),
		xzBuild{check: 1, compressed: 1 << 62}.stream(text), xzBuild{check: 1, count: 1 << 62}.stream(text),
		append(xzBuild{check: 1}.stream(text), append(make([]byte, 4), xzBuild{check: 4}.stream(text)...)...),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		one, err1 := decodeXZ(in, 1, maxDecoded)
		two, err2 := decodeXZ(in, 2, maxDecoded)
		for _, err := range []error{err1, err2} {
			if kind := xzErrKind(err); strings.HasPrefix(kind, "other") {
				t.Fatalf("decode = %v, not an xz error kind", err)
			}
		}
		short, long := one, two
		if len(short) > len(long) {
			short, long = long, short
		}
		if !bytes.HasPrefix(long, short) {
			t.Fatalf("decode with 1 and 2 workers differ within their first %d bytes", len(short))
		}
		if len(long) < maxDecoded && (err1 == nil) != (err2 == nil) {
			t.Fatalf("decode(workers 1) = %v, decode(workers 2) = %v", err1, err2)
		}
		if err1 == nil && err2 == nil && len(one) != len(two) {
			t.Fatalf("decode(workers 1) = %d bytes, decode(workers 2) = %d bytes", len(one), len(two))
		}
		if len(in) > 64<<10 {
			return
		}
		both := append(bytes.Clone(in), in[:len(in)/3]...)
		for _, rt := range []struct {
			name    string
			z, want []byte
		}{
			{"stored", xzBuild{check: []byte{0, 1, 4, 10}[len(in)%4], noSize: len(in)%2 == 0}.stream(in, in[:len(in)/3]), both},
			{"ulikunitz", compressBytes(t, zst, "xz", in), in},
		} {
			for _, workers := range []int{1, 2} {
				got, err := decodeXZ(rt.z, workers, 1<<30)
				if err != nil || !bytes.Equal(got, rt.want) {
					t.Fatalf("decode(%s xz of %d bytes, workers %d) = %d bytes, %v; want %d bytes", rt.name, len(in), workers, len(got), err, len(rt.want))
				}
			}
		}
	})
}
