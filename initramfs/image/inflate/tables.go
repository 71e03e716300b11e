package inflate

import (
	"fmt"
	"math/bits"
)

// A table entry, uint32: bits 0-3 the bits the code takes (for kindSub,
// the main table's), bits 4-7 the kind, bits 8-11 the extra bits of a
// length or distance (for kindSub, the subtable's index bits), bits 16-31
// the literal, the length or distance base, or the subtable's start. A
// zero entry is an unused code: invalid.
const (
	kindLit = 1 << 4
	kindLen = 2 << 4 // a length, or in the distance table a distance
	kindEnd = 4 << 4
	kindSub = 8 << 4
)

// table is a Huffman decoding table: a main table of 1<<bits entries
// indexed by the next bits of input, then subtables for longer codes.
type table struct {
	t    []uint32
	bits uint
	// per main-table prefix: the index bits of its subtable and its start
	subBits  [1 << maxMainBits]uint8
	subStart [1 << maxMainBits]int32
}

// Main table bits of the literal/length and distance tables (fixed
// blocks too, so that block's fast loop masks with constants).
const (
	litBits  = 10
	distBits = 8
	// maxMainBits is the largest main table (the literal/length one).
	maxMainBits = litBits
)

// tableCap is every table's capacity, main table and subtables: more than
// a literal/length code of up to 286 symbols can take with a 10-bit main
// table (a subtable of 2^k entries holds at least k+1 codes, k ≤ 5: at
// most 1024 + 47*32 + 8 = 2536 entries), and a power of two, so that a
// masked index needs no bounds check.
const tableCap = 4096

// Length and distance bases and extra bits (RFC 1951 3.2.5).
var (
	lenBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtr = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// litEntry is the entry of literal/length symbol s; symbols 286 and 287
// (which only the fixed code has) stay invalid.
func litEntry(s int) uint32 {
	switch {
	case s < 256:
		return kindLit | uint32(s)<<16
	case s == 256:
		return kindEnd
	case s < maxLit:
		i := s - 257
		return kindLen | uint32(lenExtra[i])<<8 | uint32(lenBase[i])<<16
	}
	return 0
}

// distEntry is the entry of distance symbol s; 30 and 31 stay invalid.
func distEntry(s int) uint32 {
	if s >= maxDist {
		return 0
	}
	return kindLen | uint32(distExtr[s])<<8 | uint32(distBase[s])<<16
}

func clenEntry(s int) uint32 { return kindLit | uint32(s)<<16 }

// build makes t decode the canonical code of lengths (0: unused symbol),
// with a main table of mainBits. Like compress/flate it accepts only
// complete codes, and a single code of length 1; an empty code builds a
// table of invalid entries (it fails if a symbol is decoded with it).
func (t *table) build(lengths []uint8, mainBits uint, entry func(int) uint32) error {
	var count [16]int
	maxLen := 0
	for _, n := range lengths {
		if n != 0 {
			count[n]++
			maxLen = max(maxLen, int(n))
		}
	}
	t.bits = mainBits
	size := 1 << mainBits
	if cap(t.t) < tableCap {
		t.t = make([]uint32, size, tableCap)
	}
	t.t = t.t[:size]
	clear(t.t)
	if maxLen == 0 {
		return nil
	}
	var next [16]int
	code := 0
	for n := 1; n <= maxLen; n++ {
		code = (code + count[n-1]) << 1
		next[n] = code
	}
	if total := code + count[maxLen]; total != 1<<maxLen && !(total == 1 && maxLen == 1) {
		return fmt.Errorf("inflate: incomplete or over-subscribed Huffman code: %w", ErrCorrupt)
	}
	// Subtables: for each main-table prefix of a longer code, as many
	// index bits as its longest code needs beyond the main table.
	if maxLen > int(mainBits) {
		clear(t.subBits[:size])
		clear(t.subStart[:size])
		codes := next
		for _, n := range lengths {
			if n == 0 {
				continue
			}
			c := codes[n]
			codes[n]++
			if uint(n) > mainBits {
				p := reverse(c, uint(n)) & (size - 1)
				t.subBits[p] = max(t.subBits[p], n-uint8(mainBits))
			}
		}
	}
	for s, n := range lengths {
		if n == 0 {
			continue
		}
		rev := reverse(next[n], uint(n))
		next[n]++
		e := entry(s)
		if uint(n) <= mainBits {
			for i := rev; i < size; i += 1 << n {
				t.t[i] = e | uint32(n)
			}
			continue
		}
		p := rev & (size - 1)
		sb := uint(t.subBits[p])
		start := int(t.subStart[p])
		if start == 0 {
			start = len(t.t)
			t.subStart[p] = int32(start)
			for range 1 << sb {
				t.t = append(t.t, 0)
			}
			t.t[p] = kindSub | uint32(sb)<<8 | uint32(start)<<16 | uint32(mainBits)
		}
		rest := uint(n) - mainBits
		for i := rev >> mainBits; i < 1<<sb; i += 1 << rest {
			t.t[start+i] = e | uint32(rest)
		}
	}
	return nil
}

// reverse returns the n low bits of code in reverse order: deflate sends
// Huffman codes most significant bit first into a least-significant-first
// bit stream.
func reverse(code int, n uint) int { return int(bits.Reverse16(uint16(code)) >> (16 - n)) }
