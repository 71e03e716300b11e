package lzma2

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"
)

// sample returns size bytes that compress like a disk image: runs of
// words from a small vocabulary, random stretches and zero runs.
func sample(size int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 2))
	words := make([][]byte, 200)
	for i := range words {
		w := make([]byte, 2+rng.IntN(10))
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		words[i] = append(w, ' ')
	}
	out := make([]byte, 0, size)
	for len(out) < size {
		switch rng.IntN(10) {
		case 0:
			for range rng.IntN(3000) {
				out = append(out, byte(rng.Uint32()))
			}
		case 1:
			out = append(out, make([]byte, rng.IntN(5000))...)
		default:
			for range rng.IntN(200) {
				out = append(out, words[rng.IntN(len(words))]...)
			}
		}
	}
	return out[:size]
}

// xzRaw compresses data into raw LZMA2 with the xz command and filter
// options such as "preset=6,lc=4,lp=0".
func xzRaw(t testing.TB, data []byte, opts string) []byte {
	t.Helper()
	if _, err := exec.LookPath("xz"); err != nil {
		t.Fatalf("the xz command is needed: %v", err)
	}
	cmd := exec.Command("xz", "--format=raw", "--lzma2="+opts, "-c")
	cmd.Stdin = bytes.NewReader(data)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("xz --lzma2=%s: %v: %s", opts, err, stderr.Bytes())
	}
	return out.Bytes()
}

// decodeAll decodes z with Next and returns everything up to the end marker.
func decodeAll(z []byte, dict int) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(z), dict)
	if err != nil {
		return nil, err
	}
	var out []byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, p...)
	}
}

// TestRoundTrip decodes what the xz command writes as raw LZMA2, with the
// dictionary size the filter declares, through Next and through Read.
func TestRoundTrip(t *testing.T) {
	data := sample(3<<20+777, 1)
	small := data[:50_000]
	random := make([]byte, 300_000)
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	mixed := append(append(bytes.Clone(small), random...), small...)
	for _, tc := range []struct {
		name string
		data []byte
		opts string
		dict int
	}{
		{"preset 0", data, "preset=0", 256 << 10},
		{"preset 1", data, "preset=1", 1 << 20},
		{"preset 6", data, "preset=6", 8 << 20},
		{"preset 9e", small, "preset=9e", 64 << 20},
		{"lc 4 lp 0 pb 0", data, "preset=6,lc=4,lp=0,pb=0", 8 << 20},
		{"lc 0 lp 4 pb 4", data, "preset=6,lc=0,lp=4,pb=4", 8 << 20},
		{"lc 1 lp 3 pb 1", small, "preset=1,lc=1,lp=3,pb=1", 1 << 20},
		{"lc 2 lp 2 pb 3", small, "preset=1,lc=2,lp=2,pb=3", 1 << 20},
		{"4 KiB dictionary", data, "dict=4KiB", 4096},
		{"dictionary not a power of two", data, "dict=100000", 100000},
		{"incompressible", random, "preset=6", 8 << 20},
		{"stored between LZMA chunks", mixed, "preset=1", 1 << 20},
		{"one byte", []byte{42}, "preset=6", 8 << 20},
		{"empty", nil, "preset=6", 8 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := xzRaw(t, tc.data, tc.opts)
			got, err := decodeAll(z, tc.dict)
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("Next: decode = %d bytes, %v; want the %d input bytes", len(got), err, len(tc.data))
			}
			r, err := NewReader(bytes.NewReader(z), tc.dict)
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(io.LimitReader(r, int64(len(tc.data)+1)))
			if err != nil || !bytes.Equal(got, tc.data) {
				t.Fatalf("Read: decode = %d bytes, %v; want the %d input bytes", len(got), err, len(tc.data))
			}
		})
	}
}

// TestReadSizes reads with buffers of many sizes and checks Read returns
// io.EOF at the end.
func TestReadSizes(t *testing.T) {
	data := sample(200_000, 3)
	z := xzRaw(t, data, "dict=4KiB")
	for _, size := range []int{1, 7, 4095, 4096, 4097, 65536} {
		r, err := NewReader(bytes.NewReader(z), 4096)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Read(%d bytes) = %v", size, err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Errorf("Read(%d-byte buffers) = %d bytes, want the %d input bytes", size, len(got), len(data))
		}
	}
}
