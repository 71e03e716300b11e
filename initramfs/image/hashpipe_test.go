package image

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestAsyncHash(t *testing.T) {
	data := make([]byte, 3*hashBufSize*hashBufs+12345)
	fillRandom(data, 1)
	sum := func(p []byte) string { s := sha256.Sum256(p); return hex.EncodeToString(s[:]) }
	tests := []struct {
		name   string
		chunk  int // write size
		reset  int // bytes written before a Reset (0: none)
		hashed []byte
	}{
		{name: "one write", chunk: len(data), hashed: data},
		{name: "odd writes", chunk: 4093, hashed: data},
		{name: "buffer-sized writes", chunk: hashBufSize, hashed: data},
		{name: "tiny writes", chunk: 1000, hashed: data[:50000]},
		{name: "reset midway", chunk: 70000, reset: 5 * hashBufSize, hashed: data[5*hashBufSize:]},
		{name: "empty", chunk: 1, hashed: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAsyncHash(sha256.New())
			defer a.Close()
			in := tt.hashed
			if tt.reset > 0 {
				in = data[:tt.reset]
				for p := in; len(p) > 0; p = p[min(tt.chunk, len(p)):] {
					a.Write(p[:min(tt.chunk, len(p))])
				}
				a.Reset()
				in = tt.hashed
			}
			for p := in; len(p) > 0; p = p[min(tt.chunk, len(p)):] {
				if n, err := a.Write(p[:min(tt.chunk, len(p))]); err != nil || n != min(tt.chunk, len(p)) {
					t.Fatalf("Write = %d, %v, want %d, nil", n, err, min(tt.chunk, len(p)))
				}
			}
			if got, want := hex.EncodeToString(a.Sum(nil)), sum(tt.hashed); got != want {
				t.Errorf("Sum = %s, want %s", got, want)
			}
		})
	}
}
