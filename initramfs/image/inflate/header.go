package inflate

import "fmt"

// fixed sets up the fixed Huffman codes (RFC 1951 3.2.6).
func (d *Decoder) fixed() {
	l := d.lens[:288+32]
	for i := range 288 {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	for i := 288; i < 320; i++ {
		l[i] = 5
	}
	// Complete codes: build cannot fail.
	_ = d.lit.build(l[:288], litBits, litEntry)
	_ = d.dist.build(l[288:320], distBits, distEntry)
}

// clenOrder is the order of the code length code lengths in a header.
var clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads a dynamic block's header and builds its tables. An error
// that came with bits past the end of src used is a truncated stream: the
// header was read in part from the zeros refill loads there.
func (d *Decoder) dynamic() error {
	err := d.dynamicHeader()
	if err != nil && d.overread() {
		return d.truncated()
	}
	return err
}

func (d *Decoder) dynamicHeader() error {
	d.refill()
	nlit := int(d.bb&31) + 257
	ndist := int(d.bb>>5&31) + 1
	nclen := int(d.bb>>10&15) + 4
	d.consume(14)
	if nlit > maxLit || ndist > maxDist {
		return fmt.Errorf("inflate: %d literal/length and %d distance codes: %w", nlit, ndist, ErrCorrupt)
	}
	var cl [19]uint8
	for i := range nclen {
		if d.bl < 3 {
			d.refill()
		}
		cl[clenOrder[i]] = uint8(d.bb & 7)
		d.consume(3)
	}
	if err := d.clen.build(cl[:], 7, clenEntry); err != nil {
		return err
	}
	n := nlit + ndist
	for i := 0; i < n; {
		if d.bl < 7+7 {
			d.refill()
		}
		e := d.clen.t[d.bb&127]
		if e == 0 {
			return fmt.Errorf("inflate: invalid code length code: %w", ErrCorrupt)
		}
		d.consume(uint(e & 15))
		sym := int(e >> 16)
		if sym < 16 {
			d.lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return fmt.Errorf("inflate: repeated code length with no previous one: %w", ErrCorrupt)
			}
			rep, val = 3+int(d.bb&3), d.lens[i-1]
			d.consume(2)
		case 17:
			rep = 3 + int(d.bb&7)
			d.consume(3)
		default:
			rep = 11 + int(d.bb&127)
			d.consume(7)
		}
		if i+rep > n {
			return fmt.Errorf("inflate: code lengths run past their count: %w", ErrCorrupt)
		}
		for range rep {
			d.lens[i] = val
			i++
		}
	}
	if d.overread() {
		return d.truncated()
	}
	if err := d.lit.build(d.lens[:nlit], litBits, litEntry); err != nil {
		return err
	}
	return d.dist.build(d.lens[nlit:n], distBits, distEntry)
}
