package lzma2

import "fmt"

// Next states of the 12-state machine after a literal, a match, a
// repeated match and a one-byte repeat (short rep). States 0-6 follow a
// literal, 7-11 a match.
var litNext = [16]uint8{0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 4, 5}

// decode decodes LZMA operations into the dictionary until pos reaches
// limit (at most the end of buf), in a chunk with chunkLeft bytes left. A
// match that crosses limit is finished by the next call.
func (d *decoder) decode(limit, chunkLeft int) error {
	buf, size, dict := d.buf, len(d.buf), d.dict
	pos, total := d.pos, d.total
	chunkEnd := pos + chunkLeft
	if d.pending > 0 {
		k := min(d.pending, limit-pos)
		if dist := int(d.rep[0]) + 1; dist > size {
			if err := d.far(buf, pos, total, dist, k); err != nil {
				return err
			}
		} else {
			copyMatch(buf, pos, dist, k)
		}
		pos, total, d.pending = pos+k, total+k, d.pending-k
	}
	var prev byte
	if total > 0 {
		if pos > 0 {
			prev = buf[pos-1]
		} else {
			prev = buf[size-1]
		}
	}
	r := rc{d.rng, d.code, d.ip}
	in, p := d.in, &d.p
	packed, lc, lpMask, pbMask := d.packed, d.lc, d.lpMask, d.pbMask
	state := d.state
	rep0, rep1, rep2, rep3 := d.rep[0], d.rep[1], d.rep[2], d.rep[3]
	var err error
	var b uint32
	for pos < limit {
		if r.ip > packed {
			err = fmt.Errorf("lzma2: chunk reads past its %d compressed bytes: %w", packed, ErrCorrupt)
			break
		}
		posState := total & pbMask
		r, b = r.norm(in).bit(&p.isMatch[(state<<4|posState)&0xff])
		if b == 0 {
			probs := &p.lit[((total&lpMask)<<lc|int(prev)>>(8-lc))&15]
			var sym uint32
			if state < 7 {
				r, sym = r.literal(probs, in)
			} else {
				var mb byte
				if i := pos - int(rep0) - 1; int(rep0) < size {
					if i < 0 {
						i += size
					}
					mb = buf[i]
				} else if mb, err = d.farByte(total, int(rep0)+1); err != nil {
					break
				}
				r, sym = r.matchedLiteral(probs, uint32(mb), in)
			}
			prev = byte(sym)
			buf[pos] = prev
			pos++
			total++
			state = int(litNext[state&15])
			continue
		}
		var n uint32
		r, b = r.norm(in).bit(&p.isRep[state&15])
		if b == 0 {
			r, n = r.length(&p.matchLen, posState, in)
			rep3, rep2, rep1 = rep2, rep1, rep0
			r, rep0 = r.distance(p, n, in)
			state = 7 + 3*(state/7)
			if rep0 == endMarker {
				err = ErrEndMarker
				break
			}
		} else {
			r, b = r.norm(in).bit(&p.isRepG0[state&15])
			if b == 0 {
				r, b = r.norm(in).bit(&p.isRep0Long[(state<<4|posState)&0xff])
				if b == 0 { // short rep: one byte from rep0
					if int(rep0) >= total || int(rep0) >= dict {
						err = fmt.Errorf("lzma2: distance %d beyond the %d bytes decoded: %w", int(rep0)+1, total, ErrCorrupt)
						break
					}
					state = 9 + 2*(state/7)
					if i := pos - int(rep0) - 1; int(rep0) < size {
						if i < 0 {
							i += size
						}
						prev = buf[i]
					} else if prev, err = d.farByte(total, int(rep0)+1); err != nil {
						break
					}
					buf[pos] = prev
					pos++
					total++
					continue
				}
			} else {
				var dist uint32
				r, b = r.norm(in).bit(&p.isRepG1[state&15])
				if b == 0 {
					dist = rep1
				} else {
					r, b = r.norm(in).bit(&p.isRepG2[state&15])
					if b == 0 {
						dist = rep2
					} else {
						dist, rep3 = rep3, rep2
					}
					rep2 = rep1
				}
				rep0, rep1 = dist, rep0
			}
			r, n = r.length(&p.repLen, posState, in)
			state = 8 + 3*(state/7)
		}
		dist := int(rep0) + 1
		if dist > total || dist > dict {
			err = fmt.Errorf("lzma2: distance %d beyond the %d bytes decoded: %w", dist, min(total, dict), ErrCorrupt)
			break
		}
		length := int(n) + minMatch
		if length > chunkEnd-pos {
			err = fmt.Errorf("lzma2: match of %d bytes past the chunk's end: %w", length, ErrCorrupt)
			break
		}
		k := min(length, limit-pos)
		if dist > size {
			if err = d.far(buf, pos, total, dist, k); err != nil {
				break
			}
		} else {
			copyMatch(buf, pos, dist, k)
		}
		pos, total, d.pending = pos+k, total+k, length-k
		prev = buf[pos-1]
	}
	d.pos, d.total = pos, total
	d.rng, d.code, d.ip = r.rng, r.code, r.ip
	d.state = state
	d.rep = [4]uint32{rep0, rep1, rep2, rep3}
	return err
}

// copyMatch copies n bytes from dist back to buf[pos:], n ≤ len(buf)-pos,
// byte by byte in effect: a distance shorter than n repeats a pattern.
func copyMatch(buf []byte, pos, dist, n int) {
	src := pos - dist
	if src >= 0 {
		// The bytes before pos are a pattern of period dist: copying
		// from src doubles the copied span each round.
		end := pos + n
		for pos < end {
			pos += copy(buf[pos:end], buf[src:pos])
		}
		return
	}
	src += len(buf)
	for i := range n { // the source wraps around the buffer's end
		buf[pos+i] = buf[src]
		src++
		if src == len(buf) {
			src = 0
		}
	}
}
