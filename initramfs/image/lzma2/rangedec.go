package lzma2

// rc is the range decoder's state. It is passed and returned by value so
// that the compiler keeps it in registers inside the decoding loop.
type rc struct {
	rng  uint32
	code uint32
	ip   int
}

// norm shifts in the next input byte when the range is too narrow; it
// comes before every bit.
func (r rc) norm(in *inWindow) rc {
	if r.rng < topValue {
		r.rng <<= 8
		r.code = r.code<<8 | uint32(in[r.ip&inMask])
		r.ip++
	}
	return r
}

// bit decodes one bit whose probability of being 0 is *p/2048, and
// adapts *p. The caller normalises first.
func (r rc) bit(p *uint16) (rc, uint32) {
	v := uint32(*p)
	bound := (r.rng >> probBits) * v
	if r.code < bound {
		r.rng = bound
		*p = uint16(v + (1<<probBits-v)>>moveBits)
		return r, 0
	}
	r.rng -= bound
	r.code -= bound
	*p = uint16(v - v>>moveBits)
	return r, 1
}

// direct decodes n bits of probability one half, most significant first.
func (r rc) direct(n uint32, in *inWindow) (rc, uint32) {
	var v uint32
	for ; n > 0; n-- {
		if r.rng < topValue {
			r.rng <<= 8
			r.code = r.code<<8 | uint32(in[r.ip&inMask])
			r.ip++
		}
		r.rng >>= 1
		t := (r.code - r.rng) >> 31 // 1 when code < rng
		r.code -= r.rng & (t - 1)
		v = v<<1 | (t ^ 1)
	}
	return r, v
}

// tree8 decodes an n-bit symbol (n ≤ 3) with a tree of probabilities.
func (r rc) tree8(p *[8]uint16, n uint, in *inWindow) (rc, uint32) {
	sym := uint32(1)
	var b uint32
	for range n {
		r, b = r.norm(in).bit(&p[sym&7])
		sym = sym<<1 | b
	}
	return r, sym - 1<<n
}

// tree64 decodes a 6-bit distance slot.
func (r rc) tree64(p *[64]uint16, in *inWindow) (rc, uint32) {
	sym := uint32(1)
	var b uint32
	for range 6 {
		r, b = r.norm(in).bit(&p[sym&63])
		sym = sym<<1 | b
	}
	return r, sym - 64
}

// tree256 decodes an 8-bit symbol.
func (r rc) tree256(p *[256]uint16, in *inWindow) (rc, uint32) {
	sym := uint32(1)
	var b uint32
	for range 8 {
		r, b = r.norm(in).bit(&p[sym&255])
		sym = sym<<1 | b
	}
	return r, sym - 256
}

// reverse decodes an n-bit symbol, least significant bit first, with the
// probabilities p[base+1:]; base+2^n ≤ 128.
func (r rc) reverse(p *[128]uint16, base uint32, n uint32, in *inWindow) (rc, uint32) {
	sym, v := uint32(1), uint32(0)
	var b uint32
	for i := range n {
		r, b = r.norm(in).bit(&p[(base+sym)&127])
		sym = sym<<1 | b
		v |= b << i
	}
	return r, v
}

// length decodes a match length minus 2 (0 to 271).
func (r rc) length(l *lenProbs, posState int, in *inWindow) (rc, uint32) {
	var b, n uint32
	r, b = r.norm(in).bit(&l.choice)
	if b == 0 {
		return r.tree8(&l.low[posState&15], 3, in)
	}
	r, b = r.norm(in).bit(&l.choice2)
	if b == 0 {
		r, n = r.tree8(&l.mid[posState&15], 3, in)
		return r, n + 8
	}
	r, n = r.tree256(&l.high, in)
	return r, n + 16
}

// distance decodes a match distance minus 1 for a match of length n+2.
func (r rc) distance(p *probs, n uint32, in *inWindow) (rc, uint32) {
	r, slot := r.tree64(&p.distSlot[min(n, 3)], in)
	if slot < 4 {
		return r, slot
	}
	bits := slot>>1 - 1
	dist := (2 | slot&1) << bits
	var v uint32
	if slot < 14 {
		r, v = r.reverse(&p.distSpecial, dist-slot-1, bits, in)
		return r, dist + v
	}
	r, v = r.direct(bits-4, in)
	dist += v << 4
	r, v = r.alignBits(&p.align, in)
	return r, dist + v
}

// alignBits decodes the 4 low bits of a long distance, reversed.
func (r rc) alignBits(p *[16]uint16, in *inWindow) (rc, uint32) {
	sym, v := uint32(1), uint32(0)
	var b uint32
	for i := range uint32(4) {
		r, b = r.norm(in).bit(&p[sym&15])
		sym = sym<<1 | b
		v |= b << i
	}
	return r, v
}

// flat is bit without branches on the decoded bit: slower for bits that
// are easy to predict, faster for those that are not (literals).
func (r rc) flat(q *uint16) (rc, uint32) {
	v := uint32(*q)
	bound := (r.rng >> probBits) * v
	zero := uint32(int64(uint64(r.code)-uint64(bound)) >> 63) // all ones for a 0
	r.code -= bound &^ zero
	r.rng = bound + (r.rng-2*bound)&^zero
	*q = uint16(v - v>>moveBits + ((1<<probBits-v)>>moveBits+v>>moveBits)&zero)
	return r, zero + 1
}

// literal decodes a byte with the probabilities of its literal context.
func (r rc) literal(p *[0x400]uint16, in *inWindow) (rc, uint32) {
	sym := uint32(1)
	var b uint32
	for sym < 0x100 {
		r, b = r.norm(in).flat(&p[sym&0x3ff])
		sym = sym<<1 | b
	}
	return r, sym
}

// matchedLiteral decodes a byte after a match, its bits predicted by
// those of match, the byte at the last distance, while they agree.
func (r rc) matchedLiteral(p *[0x400]uint16, match uint32, in *inWindow) (rc, uint32) {
	sym, offset := uint32(1), uint32(0x100)
	var b uint32
	for sym < 0x100 {
		match <<= 1
		mbit := match & offset
		r, b = r.norm(in).flat(&p[(offset+mbit+sym)&0x3ff])
		sym = sym<<1 | b
		offset &= mbit ^ (b - 1)
	}
	return r, sym
}
