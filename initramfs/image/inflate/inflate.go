// Package inflate decodes DEFLATE data (RFC 1951) held whole in memory
// into a buffer of known size: qcow2's zlib-compressed clusters, each a raw
// deflate stream that decodes to exactly one cluster.
//
// Knowing both ends lets it skip what a streaming decoder must do: the
// output buffer is the history (no 32 KiB window copied around), input
// bits are refilled 8 bytes at a time, and Huffman codes are looked up in
// tables of 10 (literal/length) and 8 (distance) bits at once, with
// subtables for longer codes. While at least 16 bytes of input and room
// for a whole match are left, a loop that tests both ends once per
// iteration, not per refill or symbol, decodes up to three literals per
// refill and copies matches 8 bytes at a time, the first 16 bytes with no
// test of the length (fast); the end of a block goes through a loop that
// tests them at every symbol (block).
//
//	var d inflate.Decoder // reuse it for every cluster (not concurrently)
//	if err := d.Decode(dst, src); err != nil { ... }
//
// Decode accepts what Go's compress/flate accepts, and refuses what it
// refuses (FuzzInflate checks it against that package), with two
// exceptions, both as qemu's zlib does. It stops once dst is full: a
// stream longer than the cluster is not read to its end. And it decodes
// the symbol that fills dst from the bits that symbol takes, where
// compress/flate first wants as many bits as the end-of-block code is
// long, and reports a truncated stream when the input ends sooner. A
// stream that ends before filling dst fails.
package inflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is malformed deflate data.
var ErrCorrupt = errors.New("corrupt deflate data")

// Decoder holds the Huffman tables of a decoding, reused by the next.
type Decoder struct {
	lit, dist table
	clen      table
	lens      [288 + 32]uint8

	src  []byte
	ip   int    // next byte of src to load into bb
	bb   uint64 // bit buffer, least significant bits first
	bl   uint   // bits in bb
	over int    // zero bytes loaded past the end of src
	more bool   // src may grow (a Reader): block stops when it runs low
}

// errNeedInput stops block at a symbol boundary when src runs low and
// more may come.
var errNeedInput = errors.New("inflate: more input needed")

const (
	maxLit  = 286 // literal/length symbols a block may use
	maxDist = 30
)

// Decode fills dst with the deflate stream in src.
func (d *Decoder) Decode(dst, src []byte) error {
	d.src, d.ip, d.bb, d.bl, d.over, d.more = src, 0, 0, 0, 0, false
	op := 0
	for op < len(dst) {
		d.refill()
		final, typ := d.bb&1, d.bb>>1&3
		d.consume(3)
		var err error
		switch typ {
		case 0:
			op, err = d.stored(dst, op)
		case 1:
			d.fixed()
			op, _, err = d.block(dst, op, len(dst))
		case 2:
			if err = d.dynamic(); err == nil {
				op, _, err = d.block(dst, op, len(dst))
			}
		default:
			err = fmt.Errorf("inflate: block type 3: %w", ErrCorrupt)
		}
		if err == nil && d.overread() {
			err = d.truncated()
		}
		if err != nil {
			return err
		}
		if final == 1 && op < len(dst) {
			return fmt.Errorf("inflate: stream ends after %d of %d bytes: %w", op, len(dst), ErrCorrupt)
		}
	}
	return nil
}

// refill loads bytes into bb until it holds at least 56 bits; past the
// end of src it loads zeros and counts them in over.
func (d *Decoder) refill() {
	if d.ip+8 <= len(d.src) {
		d.bb |= binary.LittleEndian.Uint64(d.src[d.ip:]) << d.bl
		d.ip += int(63-d.bl) >> 3
		d.bl |= 56
		return
	}
	for d.bl <= 56 {
		if d.ip < len(d.src) {
			d.bb |= uint64(d.src[d.ip]) << d.bl
			d.ip++
		} else {
			d.over++
		}
		d.bl += 8
	}
}

func (d *Decoder) consume(n uint) {
	d.bb >>= n
	d.bl -= n
}

// overread says whether bits were used from past the end of src.
func (d *Decoder) overread() bool { return uint(d.over)*8 > d.bl }

func (d *Decoder) truncated() error {
	return fmt.Errorf("inflate: input ends within the stream: %w", io.ErrUnexpectedEOF)
}

// stored copies an uncompressed block.
func (d *Decoder) stored(dst []byte, op int) (int, error) {
	d.consume(d.bl & 7) // to a byte boundary
	// Give the whole bytes still in bb back to src.
	if d.overread() {
		return op, d.truncated()
	}
	d.ip -= int(d.bl/8) - d.over
	d.bb, d.bl, d.over = 0, 0, 0
	if d.ip+4 > len(d.src) {
		return op, d.truncated()
	}
	n := int(binary.LittleEndian.Uint16(d.src[d.ip:]))
	if ^uint16(n) != binary.LittleEndian.Uint16(d.src[d.ip+2:]) {
		return op, fmt.Errorf("inflate: stored block length %#04x does not match its complement: %w", n, ErrCorrupt)
	}
	d.ip += 4
	if d.ip+n > len(d.src) && d.ip+(len(dst)-op) > len(d.src) {
		return op, d.truncated()
	}
	k := copy(dst[op:], d.src[d.ip:min(d.ip+n, len(d.src))])
	d.ip += k
	return op + k, nil
}

// block decodes a Huffman-coded block into dst from op, until its end of
// block (eob) or op reaches end (≤ len(dst)): a match that crosses end is
// finished, one that crosses len(dst) is cut there (Decode fills dst and
// stops; a Reader passes end = len(dst) - 258, so no match is cut). The
// bit reader lives in locals here: this is the hot loop.
func (d *Decoder) block(dst []byte, op, end int) (_ int, eob bool, _ error) {
	// fast needs bl ≤ 63 and no zeros loaded past the end of src, which
	// refill gives only when src is about to run out.
	if d.lit.bits == litBits && d.dist.bits == distBits && d.over == 0 && d.bl <= 63 {
		var err error
		if op, eob, err = d.fast(dst, op, end); eob || err != nil {
			return op, eob, err
		}
	}
	lit, dist := d.lit.t, d.dist.t
	litMask, distMask := uint64(1)<<d.lit.bits-1, uint64(1)<<d.dist.bits-1
	src, ip := d.src, d.ip
	bb, bl := d.bb, d.bl
	var err error
	for op < end { // not a bit more is read once dst is full
		if bl < 48 { // a length (15 + 5 bits) and a distance (15 + 13) fit in 48
			if ip+8 <= len(src) {
				bb |= binary.LittleEndian.Uint64(src[ip:]) << bl
				ip += int(63-bl) >> 3
				bl |= 56
			} else if d.more {
				err = errNeedInput
				break
			} else {
				d.ip, d.bb, d.bl = ip, bb, bl
				if d.overread() { // zeros past the end were decoded
					err = d.truncated()
					break
				}
				d.refill()
				ip, bb, bl = d.ip, d.bb, d.bl
			}
		}
		e := lit[bb&litMask]
		if e&kindSub != 0 {
			bb >>= e & 15
			bl -= uint(e & 15)
			e = lit[uint64(e>>16)+bb&(1<<(e>>8&15)-1)]
		}
		bb >>= e & 15
		bl -= uint(e & 15)
		if e&kindLit != 0 {
			dst[op] = byte(e >> 16)
			op++
			// A second literal without a refill, when its code is in the
			// main table and bits remain (the codes are at most 15).
			if bl < 15 || op == end {
				continue
			}
			e = lit[bb&litMask]
			if e&kindLit == 0 {
				continue
			}
			bb >>= e & 15
			bl -= uint(e & 15)
			dst[op] = byte(e >> 16)
			op++
			continue
		}
		if e&kindLen == 0 {
			if e&kindEnd != 0 {
				eob = true
				break
			}
			err = fmt.Errorf("inflate: invalid literal/length code: %w", ErrCorrupt)
			break
		}
		extra := uint(e >> 8 & 15)
		length := int(e>>16) + int(bb&(1<<extra-1))
		bb >>= extra
		bl -= extra
		e = dist[bb&distMask]
		if e&kindSub != 0 {
			bb >>= e & 15
			bl -= uint(e & 15)
			e = dist[uint64(e>>16)+bb&(1<<(e>>8&15)-1)]
		}
		bb >>= e & 15
		bl -= uint(e & 15)
		if e&kindLen == 0 {
			err = fmt.Errorf("inflate: invalid distance code: %w", ErrCorrupt)
			break
		}
		extra = uint(e >> 8 & 15)
		back := int(e>>16) + int(bb&(1<<extra-1))
		bb >>= extra
		bl -= extra
		if back > op {
			err = fmt.Errorf("inflate: distance %d beyond the %d bytes decoded: %w", back, op, ErrCorrupt)
			break
		}
		op = copyMatch(dst, op, back, min(length, len(dst)-op))
	}
	d.ip, d.bb, d.bl = ip, bb, bl
	if err != nil && err != errNeedInput && d.overread() { // decoded from zeros past the end
		err = d.truncated()
	}
	return op, eob, err
}

// fast is block's loop for as long as neither src nor dst can run out
// within one iteration: at least 16 bytes of src left (two 8-byte loads),
// and room in dst for a whole match and a 16-byte overrun. Then it loads
// input without tests, decodes up to three literals per load, and copies
// matches 8 bytes at a time, the first two words whatever the length.
// The tables are seen as arrays of their capacity, with masked indexes,
// so the lookups need no bounds checks. It returns with op short of end,
// and block's loop finishes the block.
func (d *Decoder) fast(dst []byte, op, end int) (_ int, eob bool, err error) {
	lit := (*[tableCap]uint32)(d.lit.t[:tableCap])
	dist := (*[tableCap]uint32)(d.dist.t[:tableCap])
	src, ip := d.src, d.ip
	bb, bl := d.bb, d.bl
	end = min(end, len(dst)-maxMatch-16)
	last := len(src) - 16
	for op < end && ip <= last {
		bb |= binary.LittleEndian.Uint64(src[ip:]) << (bl & 63)
		ip += int(63-bl) >> 3
		bl |= 56 // at least 56 bits: three literals of the main table (≤ 10 bits each)
		e := lit[bb&(1<<litBits-1)]
		// Up to three literals, written out: as a loop they ran 4.47 G
		// instructions against 3.65 G on 2000 qcow2 clusters (cachegrind).
		if e&kindLit != 0 {
			dst[op] = byte(e >> 16)
			op++
			n := uint(e & 15)
			bb >>= n
			bl -= n
			e = lit[bb&(1<<litBits-1)]
			if e&kindLit != 0 {
				dst[op] = byte(e >> 16)
				op++
				n := uint(e & 15)
				bb >>= n
				bl -= n
				e = lit[bb&(1<<litBits-1)]
				if e&kindLit != 0 {
					dst[op] = byte(e >> 16)
					op++
					n := uint(e & 15)
					bb >>= n
					bl -= n
					continue
				}
			}
			// Enough bits again for a length and a distance (48).
			bb |= binary.LittleEndian.Uint64(src[ip:]) << (bl & 63)
			ip += int(63-bl) >> 3
			bl |= 56
		}
		if e&kindSub != 0 {
			n := uint(e & 15)
			bb >>= n
			bl -= n
			e = lit[(uint64(e>>16)+bb&(1<<(e>>8&15)-1))&(tableCap-1)]
			if e&kindLit != 0 {
				dst[op] = byte(e >> 16)
				op++
				n := uint(e & 15)
				bb >>= n
				bl -= n
				continue
			}
		}
		if e&kindLen == 0 {
			if e&kindEnd != 0 {
				n := uint(e & 15)
				bb >>= n
				bl -= n
				eob = true
				break
			}
			err = fmt.Errorf("inflate: invalid literal/length code: %w", ErrCorrupt)
			break
		}
		n := uint(e & 15)
		bb >>= n
		bl -= n
		extra := uint(e >> 8 & 15)
		length := int(e>>16) + int(bb&(1<<extra-1))
		bb >>= extra
		bl -= extra
		e = dist[bb&(1<<distBits-1)]
		if e&kindSub != 0 {
			n := uint(e & 15)
			bb >>= n
			bl -= n
			e = dist[(uint64(e>>16)+bb&(1<<(e>>8&15)-1))&(tableCap-1)]
		}
		if e&kindLen == 0 {
			err = fmt.Errorf("inflate: invalid distance code: %w", ErrCorrupt)
			break
		}
		n = uint(e & 15)
		bb >>= n
		bl -= n
		extra = uint(e >> 8 & 15)
		back := int(e>>16) + int(bb&(1<<extra-1))
		bb >>= extra
		bl -= extra
		if back > op {
			err = fmt.Errorf("inflate: distance %d beyond the %d bytes decoded: %w", back, op, ErrCorrupt)
			break
		}
		if back < 8 {
			op = copyMatch(dst, op, back, length)
			continue
		}
		// Two words whatever the length (3 to 258, most below 16),
		// then the rest; words may run up to 15 bytes past the match's
		// end, which end leaves room for.
		from := op - back
		w, r := dst[op:op+16], dst[from:from+16]
		binary.LittleEndian.PutUint64(w, binary.LittleEndian.Uint64(r))
		binary.LittleEndian.PutUint64(w[8:], binary.LittleEndian.Uint64(r[8:]))
		for k := 16; k < length; k += 8 {
			binary.LittleEndian.PutUint64(dst[op+k:], binary.LittleEndian.Uint64(dst[from+k:]))
		}
		op += length
	}
	d.ip, d.bb, d.bl = ip, bb, bl
	return op, eob, err
}

// copyMatch copies length bytes from dist back to dst[op:] and returns
// the new op; a distance shorter than the length repeats a pattern.
func copyMatch(dst []byte, op, dist, length int) int {
	src := op - dist
	end := op + length
	if dist >= 8 && end+8 <= len(dst) {
		for op < end { // 8 bytes at a time; may write past end, never past len(dst)
			binary.LittleEndian.PutUint64(dst[op:], binary.LittleEndian.Uint64(dst[src:]))
			op += 8
			src += 8
		}
		return end
	}
	if dist >= length {
		copy(dst[op:end], dst[src:])
		return end
	}
	for op < end { // the copied span doubles each round
		op += copy(dst[op:end], dst[src:op])
	}
	return end
}
