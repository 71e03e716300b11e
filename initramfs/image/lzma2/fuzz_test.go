package lzma2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/ulikunitz/xz/lzma"
)

// maxFuzzOut bounds what a fuzz input may decode to (a chunk of a few
// bytes can declare 2 MiB).
const maxFuzzOut = 8 << 20

// decodeCapped decodes z with this package, stopping after max bytes.
func decodeCapped(z []byte, dict, max int) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(z), dict)
	if err != nil {
		return nil, err
	}
	var out []byte
	for len(out) < max {
		p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, p...)
	}
	return out[:max], nil
}

// decodeUlikunitz decodes z with github.com/ulikunitz/xz/lzma's Reader2,
// stopping after max bytes; running out of input before the end marker
// is an error, as is a panic.
func decodeUlikunitz(z []byte, dict, max int) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	r, err := lzma.Reader2Config{DictCap: dict}.NewReader2(bytes.NewReader(z))
	if err != nil {
		return nil, err
	}
	out, err = io.ReadAll(io.LimitReader(r, int64(max)))
	if err == nil && len(out) < max && !r.EOS() {
		err = io.ErrUnexpectedEOF
	}
	return out, err
}

// stricter reports whether err is one liblzma gives where ulikunitz/xz
// may decode the data: data left in a chunk, an end marker, lc + lp > 4.
func stricter(err error) bool {
	return errors.Is(err, ErrPackedSize) || errors.Is(err, ErrEndMarker) || errors.Is(err, ErrProps)
}

// compare decodes z with both decoders: the same bytes, or both fail, or
// this package refuses what liblzma refuses and ulikunitz/xz decodes.
func compare(t *testing.T, z []byte, dict int) {
	t.Helper()
	ours, err := decodeCapped(z, dict, maxFuzzOut)
	theirs, errU := decodeUlikunitz(z, dict, maxFuzzOut)
	switch {
	case err == nil && errU == nil:
		if !bytes.Equal(ours, theirs) {
			t.Fatalf("decode = %d bytes, ulikunitz/xz decodes %d other bytes", len(ours), len(theirs))
		}
	case err == nil:
		t.Fatalf("decode = %d bytes, ulikunitz/xz refuses it: %v", len(ours), errU)
	case errU == nil:
		if !stricter(err) {
			t.Fatalf("decode = %v, ulikunitz/xz decodes %d bytes", err, len(theirs))
		}
		if !bytes.HasPrefix(theirs, ours) {
			t.Fatalf("decode = %d bytes then %v; not a prefix of ulikunitz/xz's %d bytes", len(ours), err, len(theirs))
		}
	}
	if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("decode = %v, want ErrCorrupt or io.ErrUnexpectedEOF", err)
	}
}

// fuzzSeeds are LZMA2 streams built by the test encoder; the corpus in
// testdata/fuzz/FuzzLZMA2 adds streams written by the xz command.
func fuzzSeeds() [][]byte {
	e := ops(props3)
	valid := append(lzmaChunk(ctlDict, props3, len(e.data), e.rc.flush()), 0)
	two := ops(props3)
	first := lzmaChunk(ctlDict, props3, len(two.data), two.rc.flush())
	two.rc = newRangeEnc()
	n := len(two.data)
	two.match(20, 40)
	two.lit('x')
	second := lzmaChunk(ctlLZMA, 0, len(two.data)-n, two.rc.flush())
	return [][]byte{
		{0},
		valid,
		append(append(first, second...), 0),
		append(append(storedChunk(true, []byte("stored")), storedChunk(false, []byte(" chunks"))...), 0),
		append(append(storedChunk(true, []byte("then LZMA")), valid...), 0),
		append(lzmaChunk(ctlDict, 9+4, len(e.data), e.rc.out), 0),
	}
}

// FuzzLZMA2 is a differential fuzz target: arbitrary bytes decoded by
// this package and by ulikunitz/xz/lzma (the decoder it replaces) give the
// same bytes, or both fail, or only this package fails with an error of
// liblzma's stricter checks. The first byte picks the dictionary size.
func FuzzLZMA2(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(append([]byte{byte(i)}, s...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		compare(t, in[1:], MinDict<<(in[0]%8))
	})
}

// TestEveryByte damages each byte of a stream the xz command wrote, with
// three patterns: this package agrees with ulikunitz/xz on each (or is
// stricter as liblzma is), never panics and never loops.
func TestEveryByte(t *testing.T) {
	data := sample(6000, 7)
	for _, opts := range []string{"preset=1", "preset=6,lc=0,lp=2,pb=0"} {
		z := xzRaw(t, append(bytes.Clone(data), data[:3000]...), opts)
		for i := range z {
			for _, flip := range []byte{0x01, 0x80, 0xff} {
				bad := bytes.Clone(z)
				bad[i] ^= flip
				t.Run(fmt.Sprintf("%s byte %d ^ %#x", opts, i, flip), func(t *testing.T) { compare(t, bad, 8192) })
			}
		}
	}
}
