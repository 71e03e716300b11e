package inflate

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// sample is data that compresses like a disk image: text, random runs,
// zeros, repeats at every distance.
func sample(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	words := []string{"the ", "installer ", "writes ", "image ", "qcow2 ", "cluster ", "zlib\n", "a", "bb", "disk "}
	var b bytes.Buffer
	for b.Len() < n {
		switch rng.IntN(6) {
		case 0:
			for range 1 + rng.IntN(2000) {
				b.WriteByte(byte(rng.Uint32()))
			}
		case 1:
			b.Write(make([]byte, rng.IntN(5000)))
		case 2:
			if b.Len() > 0 {
				at := rng.IntN(b.Len())
				b.Write(bytes.Clone(b.Bytes()[at:min(b.Len(), at+3+rng.IntN(300))]))
			}
		default:
			for range 1 + rng.IntN(200) {
				b.WriteString(words[rng.IntN(len(words))])
			}
		}
	}
	return b.Bytes()[:n]
}

func deflate(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// TestRoundTrip: every level (stored, fixed and dynamic blocks, huffman
// only) decodes back, for clusters from 512 bytes to 2 MiB.
func TestRoundTrip(t *testing.T) {
	var d Decoder
	for _, size := range []int{1, 100, 512, 4096, 65536, 65536 + 17, 2 << 20} {
		data := sample(size, uint64(size))
		for _, level := range []int{flate.NoCompression, flate.BestSpeed, 5, flate.BestCompression, flate.HuffmanOnly} {
			z := deflate(t, data, level)
			dst := make([]byte, len(data))
			if err := d.Decode(dst, z); err != nil {
				t.Fatalf("Decode(%d bytes, level %d) = %v", size, level, err)
			}
			if !bytes.Equal(dst, data) {
				t.Fatalf("Decode(%d bytes, level %d): output differs", size, level)
			}
		}
	}
}

// TestShortAndLong: a stream that ends before dst is full fails; a longer
// one fills dst and stops, as qemu's decompression does.
func TestShortAndLong(t *testing.T) {
	var d Decoder
	data := sample(70000, 3)
	z := deflate(t, data, 6)
	if err := d.Decode(make([]byte, len(data)+1), z); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Decode(a stream one byte short) = %v, want ErrCorrupt", err)
	}
	dst := make([]byte, 65536)
	if err := d.Decode(dst, z); err != nil || !bytes.Equal(dst, data[:65536]) {
		t.Errorf("Decode(the first 64 KiB of a longer stream) = %v", err)
	}
	for _, cut := range []int{0, 1, 2, len(z) / 2, len(z) - 3, len(z) - 1} {
		if err := d.Decode(make([]byte, len(data)), z[:cut]); cut <= len(z)/2 && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrCorrupt) {
			t.Errorf("Decode(stream cut at %d of %d) = %v, want a truncated or corrupt stream", cut, len(z), err)
		}
		compare(t, &d, z[:cut], len(data))
	}
}

// compare checks Decode against compress/flate reading n bytes of z: the
// same bytes when both succeed, both failing otherwise (see the package
// doc for where they differ on purpose).
func compare(t *testing.T, d *Decoder, z []byte, n int) {
	t.Helper()
	want := make([]byte, n)
	_, werr := io.ReadFull(flate.NewReader(bytes.NewReader(z)), want)
	got := make([]byte, n)
	gerr := d.Decode(got, z)
	if gerr == nil && errors.Is(werr, io.ErrUnexpectedEOF) {
		// compress/flate wants as many bits as the end-of-block code is
		// long before it decodes a symbol; Decode only those the symbol
		// takes. Given bits past the end of z, compress/flate must agree.
		_, werr = io.ReadFull(flate.NewReader(bytes.NewReader(append(z[:len(z):len(z)], 0, 0))), want)
	}
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("Decode(%.64x…, %d) = %v, compress/flate: %v", z, n, gerr, werr)
	}
	if gerr == nil && !bytes.Equal(got, want) {
		t.Fatalf("Decode(%.64x…, %d): output differs from compress/flate", z, n)
	}
	if gerr != nil && !errors.Is(gerr, ErrCorrupt) && !errors.Is(gerr, io.ErrUnexpectedEOF) {
		t.Fatalf("Decode(%.64x…, %d) = %v, want ErrCorrupt or io.ErrUnexpectedEOF", z, n, gerr)
	}
}

// TestLastSymbolBits: a dynamic block of codes 'a' = 1, 'b' = 2 and end
// of block = 2 bits (one distance code), cut right after the ninth 'a',
// the last bit of a byte. Nine bytes decode, as with zlib; compress/flate,
// which waits for 2 bits before each symbol, reports the stream
// truncated, and decodes the same nine bytes once given more input.
func TestLastSymbolBits(t *testing.T) {
	z, err := hex.DecodeString("05c081000000008020d6f6873800")
	if err != nil {
		t.Fatal(err)
	}
	var d Decoder
	got := make([]byte, 9)
	if err := d.Decode(got, z); err != nil || string(got) != "aaaaaaaaa" {
		t.Fatalf("Decode = %q, %v; want nine a", got, err)
	}
	if _, err := io.ReadFull(flate.NewReader(bytes.NewReader(z)), make([]byte, 9)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("compress/flate on the cut stream: %v, want io.ErrUnexpectedEOF (else this test no longer shows the difference)", err)
	}
	compare(t, &d, z, 9)
	if err := d.Decode(make([]byte, 10), z); err == nil {
		t.Error("Decode of 10 bytes from a stream cut after 9 succeeded")
	}
}

// FuzzInflate compares Decode with compress/flate on any input: same
// bytes when both fill the buffer, an error when compress/flate fails
// before filling it.
func FuzzInflate(f *testing.F) {
	for i, level := range []int{0, 1, 6, 9, -2} {
		data := sample(3000+i*1000, uint64(i))
		f.Add(deflate(f, data, level), uint16(len(data)))
	}
	f.Add([]byte{0x03, 0x00}, uint16(0))
	f.Add([]byte{0x01, 0x00, 0x00, 0xff, 0xff}, uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff}, uint16(10))
	var d Decoder
	f.Fuzz(func(t *testing.T, z []byte, n uint16) { compare(t, &d, z, int(n)) })
}

// bitWriter writes a deflate bit stream, least significant bit first.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.nacc
	for w.nacc += n; w.nacc >= 8; w.nacc -= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
	}
}

// code writes a Huffman code, most significant bit first.
func (w *bitWriter) code(c int, n uint) { w.bits(uint64(reverse(c, n)), n) }

// fixedLit writes literal/length symbol s with the fixed code.
func (w *bitWriter) fixedLit(s int) {
	switch {
	case s < 144:
		w.code(0x30+s, 8)
	case s < 256:
		w.code(0x190+s-144, 9)
	case s < 280:
		w.code(s-256, 7)
	default:
		w.code(0xc0+s-280, 8)
	}
}

// TestFixedMatches: a fixed-code block of random literals and matches of
// every length (3-258) at distances from 1 to 32768, chosen here rather
// than by a compressor, so that short distances (a pattern repeated
// within one 8- or 16-byte copy) and the longest matches occur often.
// Decode and Reader must give the bytes the operations spell, as
// compress/flate does.
func TestFixedMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var w bitWriter
	w.bits(1, 1) // final
	w.bits(1, 2) // fixed codes
	var want []byte
	for len(want) < 1<<20 {
		if len(want) < 300 || rng.IntN(3) == 0 {
			b := byte(rng.UintN(256))
			w.fixedLit(int(b))
			want = append(want, b)
			continue
		}
		length := 3 + rng.IntN(16)
		if rng.IntN(8) == 0 {
			length = 3 + rng.IntN(256)
		}
		dist := 1 + rng.IntN(40)
		if rng.IntN(4) == 0 {
			dist = 1 + rng.IntN(min(len(want), 32768))
		}
		i := 28
		for int(lenBase[i]) > length {
			i--
		}
		w.fixedLit(257 + i)
		w.bits(uint64(length-int(lenBase[i])), uint(lenExtra[i]))
		j := 29
		for int(distBase[j]) > dist {
			j--
		}
		w.code(j, 5)
		w.bits(uint64(dist-int(distBase[j])), uint(distExtr[j]))
		for range length {
			want = append(want, want[len(want)-dist])
		}
	}
	w.fixedLit(256)
	w.bits(0, 7) // flush
	z := w.out

	var d Decoder
	got := make([]byte, len(want))
	if err := d.Decode(got, z); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Decode = %v, output equal: %v", err, bytes.Equal(got, want))
	}
	all, err := io.ReadAll(NewReader(bytes.NewReader(z)))
	if err != nil || !bytes.Equal(all, want) {
		t.Fatalf("Reader = %d bytes, %v; want %d bytes", len(all), err, len(want))
	}
	compare(t, &d, z, len(want))
}

// TestCutExtraBits: a fixed block of 'a' and a match at distance code 29,
// cut before the distance's 13 extra bits. The zeros refill loads past
// the end make distance 24577, beyond the one byte decoded; the stream is
// truncated, not corrupt (as compress/flate says), in Decode and Reader.
func TestCutExtraBits(t *testing.T) {
	var w bitWriter
	w.bits(1, 1) // final
	w.bits(1, 2) // fixed codes
	w.fixedLit('a')
	w.fixedLit(257) // length 3
	w.code(29, 5)   // distance 24577 + 13 extra bits, cut
	w.bits(0, 1)
	z := w.out
	if _, err := io.ReadFull(flate.NewReader(bytes.NewReader(z)), make([]byte, 4)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("compress/flate: %v, want io.ErrUnexpectedEOF", err)
	}
	var d Decoder
	if err := d.Decode(make([]byte, 4), z); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Decode = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := io.ReadAll(NewReader(bytes.NewReader(z))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Reader = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestCutHeader: a stream cut inside a dynamic block's header is a
// truncated stream wherever compress/flate says so, not corrupt data:
// the code lengths read from the zeros past the end of the input make
// no valid code.
func TestCutHeader(t *testing.T) {
	var d Decoder
	for seed := range 20 {
		data := sample(5000, uint64(100+seed))
		z := deflate(t, data, 6)
		for cut := 1; cut < 120 && cut < len(z); cut++ {
			_, werr := io.ReadFull(flate.NewReader(bytes.NewReader(z[:cut])), make([]byte, len(data)))
			if !errors.Is(werr, io.ErrUnexpectedEOF) {
				continue
			}
			if err := d.Decode(make([]byte, len(data)), z[:cut]); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("seed %d, cut at %d of %d: Decode = %v, want io.ErrUnexpectedEOF as compress/flate", seed, cut, len(z), err)
			}
			if _, err := io.ReadAll(NewReader(bytes.NewReader(z[:cut]))); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("seed %d, cut at %d of %d: Reader = %v, want io.ErrUnexpectedEOF as compress/flate", seed, cut, len(z), err)
			}
		}
	}
}
