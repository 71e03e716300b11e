package inflate

import (
	"fmt"
	"io"
)

// Reader decodes a deflate stream read from an io.Reader (a gzip member),
// with the same decoder as Decode: input is read 64 KiB at a time and
// decoded while at least 8 bytes of it remain (1 KiB before a block
// header), output is decoded into a buffer that keeps the 32 KiB of
// history matches may reach. It reads its source only as far as it needs
// to decode, but buffers: the bytes after the stream's end are returned
// by Rest.
type Reader struct {
	d   Decoder
	r   io.Reader
	in  []byte // src is in[:n]
	eof bool   // r has no more
	err error  // sticky; io.EOF after the final block

	win    []byte // output: history, then bytes not yet read
	op, rd int    // decoded up to op; handed out up to rd

	inBlock bool
	final   bool
	stored  int // bytes left of a stored block; -1 in a Huffman block
}

const (
	history  = 32 << 10
	winSize  = history + 224<<10
	inSize   = 64 << 10
	inLow    = 1 << 10 // a block header (at most about 600 bytes) fits
	maxMatch = 258
)

// NewReader returns a Reader of the deflate stream in r.
func NewReader(r io.Reader) *Reader {
	z := &Reader{}
	z.Reset(r, nil)
	return z
}

// Reset makes z read a new stream from r, starting with the bytes in
// pending (what Rest returned after the previous stream), reusing memory.
func (z *Reader) Reset(r io.Reader, pending []byte) {
	if z.in == nil {
		z.in = make([]byte, 0, inSize)
		z.win = make([]byte, winSize)
	}
	z.in = append(z.in[:0], pending...)
	z.r, z.eof, z.err = r, false, nil
	z.op, z.rd = 0, 0
	z.inBlock, z.final, z.stored = false, false, -1
	z.d.src, z.d.ip, z.d.bb, z.d.bl, z.d.over, z.d.more = z.in, 0, 0, 0, 0, true
}

// Rest returns the input read past the end of the stream (valid until the
// next Reset); call it after Read returned io.EOF.
func (z *Reader) Rest() []byte {
	d := &z.d
	ip := d.ip - int(d.bl/8) + d.over // whole bytes still in the bit buffer go back
	return d.src[min(max(ip, 0), len(d.src)):]
}

// Read returns decoded bytes; io.EOF after the final block.
func (z *Reader) Read(p []byte) (int, error) {
	for z.rd == z.op {
		if z.err != nil {
			return 0, z.err
		}
		z.err = z.decode()
		if z.err == io.ErrUnexpectedEOF || (z.err == errNeedInput) {
			z.err = fmt.Errorf("inflate: input ends within the stream: %w", io.ErrUnexpectedEOF)
		}
	}
	n := copy(p, z.win[z.rd:z.op])
	z.rd += n
	return n, nil
}

// decode decodes more into win: at least one byte, or an error.
func (z *Reader) decode() error {
	if z.op >= len(z.win)-maxMatch { // keep the history, drop what was read
		copy(z.win, z.win[z.op-history:z.op])
		z.op, z.rd = history, history
	}
	start := z.op
	for z.op == start {
		if err := z.fill(); err != nil {
			return err
		}
		d := &z.d
		if !z.inBlock {
			if z.final {
				if d.overread() {
					return d.truncated()
				}
				return io.EOF
			}
			if err := z.header(); err != nil {
				return err
			}
			continue
		}
		if z.stored >= 0 {
			n := min(z.stored, len(z.win)-z.op, len(d.src)-d.ip)
			if n == 0 && z.stored > 0 {
				if z.eof {
					return d.truncated()
				}
				continue
			}
			copy(z.win[z.op:], d.src[d.ip:d.ip+n])
			d.ip += n
			z.op += n
			z.stored -= n
			if z.stored == 0 {
				z.inBlock = false
			}
			continue
		}
		if z.op >= len(z.win)-maxMatch {
			break // room for a whole match after the slide
		}
		op, eob, err := d.block(z.win, z.op, len(z.win)-maxMatch)
		if err != errNeedInput && d.overread() {
			// Some of this call's bytes were decoded from the zeros
			// loaded past the end of the input: hand none out.
			return d.truncated()
		}
		z.op = op
		switch {
		case err == errNeedInput:
			if z.eof { // cannot happen: d.more is off at EOF
				return d.truncated()
			}
		case err != nil:
			return err
		case eob:
			z.inBlock = false
			if d.overread() {
				return d.truncated()
			}
		}
	}
	return nil
}

// fill reads more input when fewer than inLow bytes are left.
func (z *Reader) fill() error {
	d := &z.d
	for !z.eof && len(d.src)-d.ip < inLow {
		// Keep the whole bytes still in the bit buffer: a stored block
		// gives them back.
		keep := max(d.ip-int(d.bl/8), 0)
		n := copy(z.in[:cap(z.in)], d.src[keep:])
		m, err := z.r.Read(z.in[n:cap(z.in)])
		z.in = z.in[:n+m]
		d.src, d.ip = z.in, d.ip-keep
		if err == io.EOF {
			z.eof, d.more = true, false
		} else if err != nil {
			return err
		}
	}
	return nil
}

// header reads a block header.
func (z *Reader) header() error {
	d := &z.d
	d.refill()
	z.final = d.bb&1 == 1
	typ := d.bb >> 1 & 3
	d.consume(3)
	z.inBlock, z.stored = true, -1
	switch typ {
	case 0:
		d.consume(d.bl & 7)
		if d.overread() {
			return d.truncated()
		}
		d.ip -= int(d.bl/8) - d.over
		d.bb, d.bl, d.over = 0, 0, 0
		if d.ip+4 > len(d.src) {
			return d.truncated()
		}
		n := int(d.src[d.ip]) | int(d.src[d.ip+1])<<8
		if ^uint16(n) != uint16(d.src[d.ip+2])|uint16(d.src[d.ip+3])<<8 {
			return fmt.Errorf("inflate: stored block length %#04x does not match its complement: %w", n, ErrCorrupt)
		}
		d.ip += 4
		z.stored = n
		if n == 0 {
			z.inBlock = false
		}
	case 1:
		d.fixed()
	case 2:
		return d.dynamic()
	default:
		return fmt.Errorf("inflate: block type 3: %w", ErrCorrupt)
	}
	return nil
}
