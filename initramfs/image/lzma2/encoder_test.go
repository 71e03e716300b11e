package lzma2

// A small LZMA encoder for tests: it writes exactly the operations a test
// asks for (literals, matches at any distance, repeats, end markers), so
// tests can build well-formed and hostile chunks that no real encoder
// would write.

// rangeEnc is a range encoder.
type rangeEnc struct {
	low       uint64
	rng       uint32
	cache     byte
	cacheSize int
	out       []byte
}

func newRangeEnc() *rangeEnc { return &rangeEnc{rng: 0xffffffff, cacheSize: 1} }

func (e *rangeEnc) shiftLow() {
	if uint32(e.low) < 0xff000000 || e.low>>32 != 0 {
		carry := byte(e.low >> 32)
		for b := e.cache; e.cacheSize > 0; e.cacheSize-- {
			e.out = append(e.out, b+carry)
			b = 0xff
		}
		e.cache = byte(e.low >> 24)
	}
	e.cacheSize++
	e.low = uint64(uint32(e.low) << 8)
}

func (e *rangeEnc) bit(p *uint16, b uint32) {
	bound := (e.rng >> probBits) * uint32(*p)
	if b == 0 {
		e.rng = bound
		*p += (1<<probBits - *p) >> moveBits
	} else {
		e.low += uint64(bound)
		e.rng -= bound
		*p -= *p >> moveBits
	}
	for e.rng < topValue {
		e.rng <<= 8
		e.shiftLow()
	}
}

func (e *rangeEnc) direct(v uint32, n uint32) {
	for i := int(n) - 1; i >= 0; i-- {
		e.rng >>= 1
		if v>>i&1 == 1 {
			e.low += uint64(e.rng)
		}
		for e.rng < topValue {
			e.rng <<= 8
			e.shiftLow()
		}
	}
}

// flush ends the range coder's data.
func (e *rangeEnc) flush() []byte {
	for range 5 {
		e.shiftLow()
	}
	return e.out
}

func (e *rangeEnc) tree(p []uint16, v uint32, n uint32) {
	sym := uint32(1)
	for i := int(n) - 1; i >= 0; i-- {
		b := v >> i & 1
		e.bit(&p[sym], b)
		sym = sym<<1 | b
	}
}

// reverse encodes v's n bits, least significant first, with the
// probabilities p[off+1:] (off wraps, as the decoder's does for slot 4).
func (e *rangeEnc) reverse(p []uint16, off, v uint32, n uint32) {
	sym := uint32(1)
	for i := range n {
		b := v >> i & 1
		e.bit(&p[(off+sym)&127], b)
		sym = sym<<1 | b
	}
}

// lzmaEnc encodes operations with the decoder's model.
type lzmaEnc struct {
	d    decoder // the model: probabilities, state, distances, properties
	data []byte  // everything encoded since the dictionary reset
	rc   *rangeEnc
}

func newLZMAEnc(props byte) *lzmaEnc {
	e := &lzmaEnc{rc: newRangeEnc()}
	if err := e.d.setProps(props); err != nil {
		e.d.lc, e.d.lpMask, e.d.pbMask, e.d.litSets = 3, 0, 3, 8
	}
	e.d.resetState()
	return e
}

func (e *lzmaEnc) posState() int { return len(e.data) & e.d.pbMask }

// lit encodes a literal byte.
func (e *lzmaEnc) lit(c byte) {
	d, p := &e.d, &e.d.p
	e.rc.bit(&p.isMatch[d.state<<4|e.posState()], 0)
	var prev byte
	if len(e.data) > 0 {
		prev = e.data[len(e.data)-1]
	}
	probs := p.lit[(len(e.data)&d.lpMask)<<d.lc|int(prev)>>(8-d.lc)][:]
	sym := uint32(1)
	if d.state < 7 {
		e.rc.tree(probs, uint32(c), 8)
	} else {
		match := uint32(e.data[len(e.data)-int(d.rep[0])-1])
		offset := uint32(0x100)
		for i := 7; i >= 0; i-- {
			b := uint32(c) >> i & 1
			match <<= 1
			mbit := match & offset
			e.rc.bit(&probs[offset+mbit+sym], b)
			sym = sym<<1 | b
			offset &= mbit ^ (b - 1)
		}
	}
	d.state = int(litNext[d.state])
	e.data = append(e.data, c)
}

func (e *lzmaEnc) length(l *lenProbs, n uint32) {
	switch ps := e.posState(); {
	case n < 8:
		e.rc.bit(&l.choice, 0)
		e.rc.tree(l.low[ps][:], n, 3)
	case n < 16:
		e.rc.bit(&l.choice, 1)
		e.rc.bit(&l.choice2, 0)
		e.rc.tree(l.mid[ps][:], n-8, 3)
	default:
		e.rc.bit(&l.choice, 1)
		e.rc.bit(&l.choice2, 1)
		e.rc.tree(l.high[:], n-16, 8)
	}
}

// match encodes a match of length n (2-273) at distance dist (1-2^32, or
// endMarker+1 for the end marker), copying the bytes when they exist.
func (e *lzmaEnc) match(dist uint64, n int) {
	d, p := &e.d, &e.d.p
	e.rc.bit(&p.isMatch[d.state<<4|e.posState()], 1)
	e.rc.bit(&p.isRep[d.state], 0)
	e.length(&p.matchLen, uint32(n-minMatch))
	v := uint32(dist - 1)
	slot := v
	if v >= 4 {
		hi := uint32(31)
		for v>>hi == 0 {
			hi--
		}
		slot = hi<<1 | v>>(hi-1)&1
	}
	e.rc.tree(p.distSlot[min(n-minMatch, 3)][:], slot, 6)
	if slot >= 4 {
		bits := slot>>1 - 1
		base := (2 | slot&1) << bits
		if slot < 14 {
			e.rc.reverse(p.distSpecial[:], base-slot-1, v-base, bits)
		} else {
			e.rc.direct((v-base)>>4, bits-4)
			e.rc.reverse(p.align[:], 0, v&15, 4)
		}
	}
	d.rep = [4]uint32{v, d.rep[0], d.rep[1], d.rep[2]}
	d.state = 7 + 3*(d.state/7)
	e.copy(int(dist), n)
}

// shortRep encodes one byte repeated from the last distance.
func (e *lzmaEnc) shortRep() {
	d, p := &e.d, &e.d.p
	e.rc.bit(&p.isMatch[d.state<<4|e.posState()], 1)
	e.rc.bit(&p.isRep[d.state], 1)
	e.rc.bit(&p.isRepG0[d.state], 0)
	e.rc.bit(&p.isRep0Long[d.state<<4|e.posState()], 0)
	d.state = 9 + 2*(d.state/7)
	e.copy(int(d.rep[0])+1, 1)
}

// rep encodes a match of length n at the k-th last distance (0-3).
func (e *lzmaEnc) rep(k, n int) {
	d, p := &e.d, &e.d.p
	e.rc.bit(&p.isMatch[d.state<<4|e.posState()], 1)
	e.rc.bit(&p.isRep[d.state], 1)
	if k == 0 {
		e.rc.bit(&p.isRepG0[d.state], 0)
		e.rc.bit(&p.isRep0Long[d.state<<4|e.posState()], 1)
	} else {
		e.rc.bit(&p.isRepG0[d.state], 1)
		e.rc.bit(&p.isRepG1[d.state], min(uint32(k-1), 1))
		if k > 1 {
			e.rc.bit(&p.isRepG2[d.state], uint32(k-2))
		}
		dist := d.rep[k]
		copy(d.rep[1:k+1], d.rep[:k])
		d.rep[0] = dist
	}
	e.length(&p.repLen, uint32(n-minMatch))
	d.state = 8 + 3*(d.state/7)
	e.copy(int(d.rep[0])+1, n)
}

// copy appends a match's bytes, or zeros where the distance is invalid.
func (e *lzmaEnc) copy(dist, n int) {
	for range n {
		var c byte
		if dist <= len(e.data) {
			c = e.data[len(e.data)-dist]
		}
		e.data = append(e.data, c)
	}
}
