package lzma2

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// props3 is the usual properties byte: lc 3, lp 0, pb 2.
const props3 = (2*5+0)*9 + 3

// lzmaChunk frames packed LZMA data as a chunk with control byte ctl
// (0x80-0xff), declaring unpacked bytes.
func lzmaChunk(ctl, props byte, unpacked int, packed []byte) []byte {
	u, p := unpacked-1, len(packed)-1
	h := []byte{ctl | byte(u>>16), byte(u >> 8), byte(u), byte(p >> 8), byte(p)}
	if ctl >= ctlProps {
		h = append(h, props)
	}
	return append(h, packed...)
}

// storedChunk frames data as an uncompressed chunk.
func storedChunk(reset bool, data []byte) []byte {
	ctl := byte(ctlStored)
	if reset {
		ctl = ctlStoredReset
	}
	return append([]byte{ctl, byte((len(data) - 1) >> 8), byte(len(data) - 1)}, data...)
}

// ops encodes a literal run, a match, a repeat and a short repeat; it
// returns the encoder after them (its range coder not yet flushed).
func ops(props byte) *lzmaEnc {
	e := newLZMAEnc(props)
	for _, c := range []byte("hostile lzma2 ") {
		e.lit(c)
	}
	e.match(8, 12)
	e.lit('!')
	e.rep(0, 5)
	e.shortRep()
	e.match(3, 30)
	e.rep(1, 7)
	return e
}

// TestHostile decodes hand-built chunk sequences: each malformed one is
// refused with ErrCorrupt (or io.ErrUnexpectedEOF when it ends early) and
// the errors liblzma's strictness adds are told apart.
func TestHostile(t *testing.T) {
	valid := ops(props3)
	want := bytes.Clone(valid.data)
	good := valid.rc.flush()
	far := newLZMAEnc(props3)
	far.lit('a')
	far.match(5, 3)
	big := newLZMAEnc(props3)
	for i := range 5000 {
		big.lit(byte(i * 7))
	}
	big.match(4500, 10)
	marker := ops(props3)
	n := len(marker.data)
	marker.match(endMarker+1, 2)
	junk := append(bytes.Clone(good), 1, 2, 3)
	badStart := append([]byte{1}, good[1:]...)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		in   []byte
		dict int
		want []byte
		err  error // nil, ErrCorrupt or one that wraps it, or io.ErrUnexpectedEOF
	}{ // want nil with an error: whatever was decoded before it is not checked
		{"valid", cat(lzmaChunk(ctlDict, props3, len(want), good), []byte{0}), 4096, want, nil},
		{"empty stream", []byte{0}, 4096, nil, nil},
		{"stored chunks", cat(storedChunk(true, []byte("abc")), storedChunk(false, []byte("de")), []byte{0}), 4096, []byte("abcde"), nil},
		{"no input", nil, 4096, nil, io.ErrUnexpectedEOF},
		{"no end marker", lzmaChunk(ctlDict, props3, len(want), good), 4096, want, io.ErrUnexpectedEOF},
		{"control 0x03", []byte{0x03, 0, 0, 0}, 4096, nil, ErrCorrupt},
		{"control 0x7f", cat(storedChunk(true, []byte("x")), []byte{0x7f}), 4096, []byte("x"), ErrCorrupt},
		{"first chunk stored without reset", cat(storedChunk(false, []byte("abc")), []byte{0}), 4096, nil, ErrCorrupt},
		{"first chunk LZMA without reset", cat(lzmaChunk(ctlProps, props3, len(want), good), []byte{0}), 4096, nil, ErrCorrupt},
		{"LZMA without properties after a reset", cat(storedChunk(true, []byte("abc")), lzmaChunk(ctlState, 0, len(want), good), []byte{0}), 4096, []byte("abc"), ErrCorrupt},
		{"properties lc 4 lp 1", cat(lzmaChunk(ctlDict, 9+4, len(want), good), []byte{0}), 4096, nil, ErrProps},
		{"properties byte 225", cat(lzmaChunk(ctlDict, 225, len(want), good), []byte{0}), 4096, nil, ErrCorrupt},
		{"range coder first byte", cat(lzmaChunk(ctlDict, props3, len(want), badStart), []byte{0}), 4096, nil, ErrCorrupt},
		{"packed size under 5", cat(lzmaChunk(ctlDict, props3, 1, []byte{0, 0}), []byte{0}), 4096, nil, ErrCorrupt},
		{"distance beyond the bytes decoded", cat(lzmaChunk(ctlDict, props3, 4, far.rc.flush()), []byte{0}), 4096, []byte("a"), ErrCorrupt},
		{"distance beyond the dictionary", cat(lzmaChunk(ctlDict, props3, len(big.data), big.rc.flush()), []byte{0}), 4096, big.data[:5000], ErrCorrupt},
		{"match past the chunk's end", cat(lzmaChunk(ctlDict, props3, len(want)-3, good), []byte{0}), 4096, want[:len(want)-7], ErrCorrupt},
		{"unpacked size too large", cat(lzmaChunk(ctlDict, props3, len(want)+50, good), []byte{0}), 4096, nil, ErrCorrupt},
		{"packed size too large", cat(lzmaChunk(ctlDict, props3, len(want), junk), []byte{0}), 4096, want, ErrPackedSize},
		{"packed size too small", cat(lzmaChunk(ctlDict, props3, len(want), good[:len(good)-2]), []byte{0}), 4096, nil, ErrCorrupt},
		{"end marker", cat(lzmaChunk(ctlDict, props3, n+2, marker.rc.flush()), []byte{0}), 4096, want, ErrEndMarker},
		{"stored chunk cut short", storedChunk(true, []byte("abcdef"))[:6], 4096, []byte("abc"), io.ErrUnexpectedEOF},
		{"header cut short", []byte{0xe0, 0, 0}, 4096, nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeAll(tc.in, tc.dict)
			if !errors.Is(err, tc.err) || (err != nil && tc.err == nil) {
				t.Fatalf("decode = %v, want %v", err, tc.err)
			}
			if tc.err != io.ErrUnexpectedEOF && err != nil && !errors.Is(err, ErrCorrupt) {
				t.Errorf("decode = %v, want it to wrap ErrCorrupt", err)
			}
			if tc.want == nil && tc.err != nil {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Errorf("decoded bytes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestTruncated cuts a valid stream at every length: each prefix is
// refused with io.ErrUnexpectedEOF or ErrCorrupt, never decoded.
func TestTruncated(t *testing.T) {
	z := xzRaw(t, sample(40_000, 4), "preset=1")
	for n := range len(z) {
		if _, err := decodeAll(z[:n], 64<<10); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode(first %d of %d bytes) = %v, want truncated or corrupt", n, len(z), err)
		}
	}
}

// TestNewReaderDict checks the dictionary sizes NewReader accepts.
func TestNewReaderDict(t *testing.T) {
	for _, tc := range []struct {
		dict int
		ok   bool
	}{{0, false}, {MinDict - 1, false}, {MinDict, true}, {1 << 20, true}, {-1, false}} {
		if _, err := NewReader(bytes.NewReader(nil), tc.dict); (err == nil) != tc.ok {
			t.Errorf("NewReader(dict %d) = %v, want ok %v", tc.dict, err, tc.ok)
		}
	}
}
