package lzma2

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReset: a reader reset onto another stream decodes it as a new one
// would, reusing its dictionary when it is large enough.
func TestReset(t *testing.T) {
	a, b := sample(300<<10, 3), sample(200<<10, 4)
	za, zb := xzRaw(t, a, "preset=1,dict=256KiB"), xzRaw(t, b, "preset=1,dict=64KiB")
	r, err := NewReader(bytes.NewReader(za), 256<<10)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		z, want []byte
		dict    int
	}{{za, a, 256 << 10}, {zb, b, 64 << 10}, {za, a, 256 << 10}, {zb, b, 512 << 10}} {
		if i > 0 {
			if err := r.Reset(bytes.NewReader(tc.z), tc.dict); err != nil {
				t.Fatal(err)
			}
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Fatalf("stream %d after Reset: %d bytes, %v; want the %d bytes", i, len(got), err, len(tc.want))
		}
		if len(r.d.buf) != tc.dict {
			t.Errorf("stream %d: dictionary of %d bytes, want %d", i, len(r.d.buf), tc.dict)
		}
	}
	if err := r.Reset(bytes.NewReader(za), MinDict-1); err == nil {
		t.Errorf("Reset(dictionary %d) = nil, want an error", MinDict-1)
	}
}

// TestResetInto: a stream decoded into a buffer at least as large as its
// output lands there in order, whatever the dictionary size; matches still
// reach only dictSize back.
func TestResetInto(t *testing.T) {
	data := sample(1<<20+123, 5)
	z := xzRaw(t, data, "preset=1,dict=64KiB")
	var r Reader
	buf := make([]byte, len(data)+1000)
	if err := r.ResetInto(bytes.NewReader(z), buf, 64<<10); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if &p[0] != &buf[n] {
			t.Fatalf("Next returned bytes at buf[%d], want buf[%d]", len(buf)-cap(p), n)
		}
		n += len(p)
	}
	if !bytes.Equal(buf[:n], data) {
		t.Errorf("decoded into the buffer: %d bytes, not the %d of the input", n, len(data))
	}
	// A distance of 4500 in a 10000-byte buffer with a 4096-byte dictionary.
	big := newLZMAEnc(props3)
	for i := range 5000 {
		big.lit(byte(i * 7))
	}
	big.match(4500, 10)
	in := append(lzmaChunk(ctlDict, props3, len(big.data), big.rc.flush()), 0)
	if err := r.ResetInto(bytes.NewReader(in), make([]byte, 10000), 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(&r); !errors.Is(err, ErrCorrupt) {
		t.Errorf("distance beyond the dictionary, inside the buffer: %v, want ErrCorrupt", err)
	}
	if err := r.ResetInto(bytes.NewReader(in), make([]byte, 4095), 4096); err == nil {
		t.Errorf("ResetInto(a buffer smaller than the dictionary) = nil, want an error")
	}
}
