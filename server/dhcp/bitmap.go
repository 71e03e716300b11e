package dhcp

import "math/bits"

// bitmap is a set of the integers 0..n-1, one bit each, that finds its
// lowest member in amortised constant time: low is a word below which
// every word is empty.
type bitmap struct {
	words []uint64
	n     uint32
	low   int
}

func newBitmap(n uint32) *bitmap {
	return &bitmap{words: make([]uint64, (uint64(n)+63)/64), n: n}
}

func (b *bitmap) has(i uint32) bool {
	return i < b.n && b.words[i/64]&(1<<(i%64)) != 0
}

func (b *bitmap) add(i uint32) {
	if i >= b.n {
		return
	}
	w := int(i / 64)
	b.words[w] |= 1 << (i % 64)
	b.low = min(b.low, w)
}

func (b *bitmap) remove(i uint32) {
	if i < b.n {
		b.words[i/64] &^= 1 << (i % 64)
	}
}

// first returns the lowest member, or false for an empty set.
func (b *bitmap) first() (uint32, bool) {
	for ; b.low < len(b.words); b.low++ {
		if w := b.words[b.low]; w != 0 {
			return uint32(b.low)*64 + uint32(bits.TrailingZeros64(w)), true
		}
	}
	return 0, false
}
