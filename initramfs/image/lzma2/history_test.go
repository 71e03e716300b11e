package lzma2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// decodedHistory serves ReadHistory from the bytes the test has taken
// from Next so far, and fails for any byte not handed out yet or newer
// than the window allows.
type decodedHistory struct {
	out    []byte
	window int
	calls  int
}

func (h *decodedHistory) ReadHistory(p []byte, off int64) error {
	h.calls++
	end := off + int64(len(p))
	if off < 0 || end > int64(len(h.out)) {
		return fmt.Errorf("history [%d, %d) not decoded yet (%d bytes out)", off, end, len(h.out))
	}
	if newest := int64(len(h.out)); end > newest-int64(h.window-maxChunk-histPage) {
		return fmt.Errorf("history [%d, %d) newer than the window allows (%d bytes out)", off, end, newest)
	}
	copy(p, h.out[off:end])
	return nil
}

// farData has matches far back: random blocks repeated after more than a
// window of other data, with small edits so that literals follow matches.
func farData(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 9))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	a, b := rnd(1<<20), rnd(5<<20)
	var out bytes.Buffer
	out.Write(a)
	out.Write(b)
	for i := 0; i < len(a); i += 4096 {
		chunk := bytes.Clone(a[i : i+4096])
		chunk[rng.IntN(4096)] ^= 0x5a
		out.Write(chunk)
	}
	out.Write(b[:300<<10])
	return out.Bytes()
}

// TestResetWindow: with a window smaller than the dictionary, matches
// beyond it are read from History, and the output is the same.
func TestResetWindow(t *testing.T) {
	data := farData(1)
	z := xzRaw(t, data, "preset=1,dict=8MiB")
	for _, window := range []int{MinWindow, MinWindow + 12345, 5 << 20, 8 << 20} {
		t.Run(fmt.Sprint(window), func(t *testing.T) {
			h := &decodedHistory{window: window}
			var r Reader
			if err := r.ResetWindow(bytes.NewReader(z), window, 8<<20, h); err != nil {
				t.Fatal(err)
			}
			for {
				p, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Next after %d bytes: %v", len(h.out), err)
				}
				h.out = append(h.out, p...)
			}
			if !bytes.Equal(h.out, data) {
				t.Fatalf("decoded %d bytes, not the %d of the input", len(h.out), len(data))
			}
			if window < 5<<20 && h.calls == 0 {
				t.Errorf("window %d: History never read, want the far matches read from it", window)
			}
			if window >= 8<<20 && h.calls != 0 {
				t.Errorf("window %d (the whole dictionary): History read %d times, want 0", window, h.calls)
			}
			t.Logf("window %d: %d history reads", window, h.calls)
		})
	}
}

// TestResetWindowErrors: a history failure fails the stream; a distance
// beyond the dictionary is refused even when History could serve it.
func TestResetWindowErrors(t *testing.T) {
	data := farData(2)
	z := xzRaw(t, data, "preset=1,dict=8MiB")
	var r Reader
	broken := errors.New("disk read failed")
	if err := r.ResetWindow(bytes.NewReader(z), MinWindow, 8<<20, failingHistory{broken}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, &r); !errors.Is(err, broken) {
		t.Errorf("decode with a failing History = %v, want it to wrap %v", err, broken)
	}
	// The dictionary is 2 MiB: the matches 6 MiB back are corrupt.
	h := &decodedHistory{window: MinWindow}
	if err := r.ResetWindow(bytes.NewReader(z), MinWindow, 2<<20, h); err != nil {
		t.Fatal(err)
	}
	var err error
	for {
		var p []byte
		if p, err = r.Next(); err != nil {
			break
		}
		h.out = append(h.out, p...)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("distance beyond a 2 MiB dictionary = %v, want ErrCorrupt", err)
	}
	if err := r.ResetWindow(bytes.NewReader(z), MinWindow-1, 8<<20, h); err == nil {
		t.Errorf("ResetWindow(window %d) = nil, want an error", MinWindow-1)
	}
}

type failingHistory struct{ err error }

func (f failingHistory) ReadHistory([]byte, int64) error { return f.err }
