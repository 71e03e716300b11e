package lzma2

// The range coder's probabilities are 11-bit; each starts at one half.
const (
	probBits  = 11
	probInit  = 1 << (probBits - 1)
	moveBits  = 5
	topValue  = 1 << 24
	inMask    = 1<<17 - 1
	minMatch  = 2
	endMarker = 0xffffffff // the distance (minus one) of the end marker
)

// inWindow holds an LZMA chunk's packed bytes (at most 64 KiB). Indexes
// are masked with inMask, so reading past the chunk's bytes into stale
// ones never leaves the array; the decoder checks after each operation
// that it has not gone past the chunk.
type inWindow [inMask + 1]byte

// Array sizes below are powers of two so that masked indexes need no
// bounds checks; the masks never change a valid index.

// lenProbs decodes a match length: 2-9, 10-17 or 18-273.
type lenProbs struct {
	choice  uint16
	choice2 uint16
	low     [16][8]uint16 // per position state, a 3-bit tree
	mid     [16][8]uint16
	high    [256]uint16 // an 8-bit tree
}

// probs is the adaptive model of an LZMA decoder.
type probs struct {
	isMatch     [256]uint16 // state<<4 | position state
	isRep       [16]uint16
	isRepG0     [16]uint16
	isRepG1     [16]uint16
	isRepG2     [16]uint16
	isRep0Long  [256]uint16 // state<<4 | position state
	distSlot    [4][64]uint16
	distSpecial [128]uint16 // reverse trees of the distance slots 4 to 13
	align       [16]uint16
	matchLen    lenProbs
	repLen      lenProbs
	lit         [16][0x400]uint16 // per literal context: 0x300 used
}

// decoder is the LZMA decoder with its dictionary and range coder.
type decoder struct {
	buf   []byte // the dictionary, a circular buffer (its newest part, with hist)
	dict  int    // the dictionary size: matches reach at most this far back
	pos   int    // where the next byte goes in buf
	total int    // bytes written since the dictionary was reset
	base  int64  // bytes written before the last dictionary reset

	hist  History // older bytes than buf holds, when dict > len(buf)
	pages histCache

	in     *inWindow
	ip     int // next byte of in
	packed int // bytes in in
	rng    uint32
	code   uint32

	lc      uint
	lpMask  int
	pbMask  int
	litSets int // literal contexts in use: 1 << (lc + lp)

	state   int
	rep     [4]uint32 // the last four distances, minus one
	pending int       // bytes of a match still to copy, from distance rep[0]+1

	p probs
}

// resetDict empties the dictionary.
func (d *decoder) resetDict() {
	d.base += int64(d.total)
	d.pos, d.total, d.pending = 0, 0, 0
	d.pages.clear()
}

// wrote records n bytes copied into buf at pos.
func (d *decoder) wrote(n int) {
	d.pos += n
	d.total += n
}

// resetState starts a new LZMA state: probabilities, state and distances.
func (d *decoder) resetState() {
	d.state, d.rep, d.pending = 0, [4]uint32{}, 0
	half := func(s []uint16) {
		for i := range s {
			s[i] = probInit
		}
	}
	p := &d.p
	half(p.isMatch[:])
	half(p.isRep[:])
	half(p.isRepG0[:])
	half(p.isRepG1[:])
	half(p.isRepG2[:])
	half(p.isRep0Long[:])
	for i := range p.distSlot {
		half(p.distSlot[i][:])
	}
	half(p.distSpecial[:])
	half(p.align[:])
	for _, l := range []*lenProbs{&p.matchLen, &p.repLen} {
		l.choice, l.choice2 = probInit, probInit
		for i := range l.low {
			half(l.low[i][:])
			half(l.mid[i][:])
		}
		half(l.high[:])
	}
	for i := range min(d.litSets, len(p.lit)) {
		half(p.lit[i][:0x300])
	}
}
