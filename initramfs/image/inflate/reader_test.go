package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestReaderRoundTrip: streams of every kind of block decode through
// Reader, whatever sizes the source reads in, and Rest returns exactly
// the bytes after the stream.
func TestReaderRoundTrip(t *testing.T) {
	z := NewReader(nil)
	for _, size := range []int{0, 1, 1000, 100 << 10, 3<<20 + 5} {
		data := sample(size, uint64(size)+9)
		for _, level := range []int{flate.NoCompression, flate.BestSpeed, 6, flate.HuffmanOnly} {
			comp := append(deflate(t, data, level), "trailer"...)
			for name, src := range map[string]io.Reader{
				"whole":    bytes.NewReader(comp),
				"1 byte":   iotest.OneByteReader(bytes.NewReader(comp)),
				"half":     iotest.HalfReader(bytes.NewReader(comp)),
				"data+EOF": iotest.DataErrReader(bytes.NewReader(comp)),
			} {
				z.Reset(src, nil)
				got, err := io.ReadAll(z)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("Reader(%d bytes, level %d, %s) = %d bytes, %v", size, level, name, len(got), err)
				}
				rest, _ := io.ReadAll(io.MultiReader(bytes.NewReader(z.Rest()), src))
				if string(rest) != "trailer" {
					t.Fatalf("Reader(%d bytes, level %d, %s): after the stream %q, want %q", size, level, name, rest, "trailer")
				}
			}
		}
	}
}

// FuzzReader compares Reader with compress/flate on any input: the same
// bytes, and both failing or both ending cleanly.
func FuzzReader(f *testing.F) {
	for i, level := range []int{0, 1, 6, -2} {
		f.Add(deflate(f, sample(5000+i*3000, uint64(i)), level), uint8(7))
	}
	f.Add([]byte{0x01, 0x00, 0x00, 0xff, 0xff}, uint8(1))
	z := NewReader(nil)
	f.Fuzz(func(t *testing.T, comp []byte, chunk uint8) {
		want, werr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(comp)), 1<<20))
		z.Reset(&chunked{b: comp, n: int(chunk) + 1}, nil)
		got, gerr := io.ReadAll(io.LimitReader(z, 1<<20))
		if len(want) == 1<<20 { // both cut at the limit
			return
		}
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("Reader(%x) = %v, compress/flate: %v", comp, gerr, werr)
		}
		if gerr == nil && !bytes.Equal(got, want) {
			t.Fatalf("Reader(%x): %d bytes, compress/flate: %d", comp, len(got), len(want))
		}
		if gerr != nil && !errors.Is(gerr, ErrCorrupt) && !errors.Is(gerr, io.ErrUnexpectedEOF) {
			t.Fatalf("Reader(%x) = %v, want ErrCorrupt or io.ErrUnexpectedEOF", comp, gerr)
		}
	})
}

// chunked reads b n bytes at a time.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// TestReaderCutPrefix: a stream cut anywhere fails, and what Reader
// handed out before the error is a prefix of the whole output: nothing
// decoded from the zeros loaded past the end of the input reaches the
// caller (an installer would write it to the disk).
func TestReaderCutPrefix(t *testing.T) {
	for i, level := range []int{0, 1, 6, 9, -2} {
		data := sample(40000, uint64(20+i))
		comp := deflate(t, data, level)
		for cut := 1; cut < len(comp)-1; cut += 1 + cut/64 {
			got, err := io.ReadAll(NewReader(bytes.NewReader(comp[:cut])))
			if err == nil {
				t.Fatalf("level %d, cut at %d of %d: no error", level, cut, len(comp))
			}
			if !bytes.Equal(got, data[:min(len(got), len(data))]) {
				t.Fatalf("level %d, cut at %d of %d: %d bytes handed out, not a prefix of the output (%v)", level, cut, len(comp), len(got), err)
			}
		}
	}
}
