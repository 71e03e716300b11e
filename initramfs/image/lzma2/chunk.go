package lzma2

import (
	"fmt"
	"io"
)

// chunkState is what the next chunk must reset, as liblzma tracks it.
type chunkState uint8

const (
	needDict  chunkState = iota // the first chunk: it must reset the dictionary
	needProps                   // after a dictionary reset: the next LZMA chunk sets properties
	ready                       // any chunk may follow
)

// LZMA2 control bytes.
const (
	ctlEnd         = 0x00
	ctlStoredReset = 0x01 // uncompressed, dictionary reset
	ctlStored      = 0x02 // uncompressed
	ctlLZMA        = 0x80 // LZMA; bits 5-6 say what to reset
	ctlState       = 0xa0 // LZMA, state reset
	ctlProps       = 0xc0 // LZMA, state reset with new properties
	ctlDict        = 0xe0 // LZMA, all of the above and a dictionary reset
)

// nextChunk reads a chunk header and sets up its decoding; it returns
// io.EOF at the end marker.
func (r *Reader) nextChunk() error {
	var h [6]byte
	if err := r.readHeader(h[:1]); err != nil {
		return err
	}
	c := h[0]
	switch {
	case c == ctlEnd:
		return io.EOF
	case c > ctlStored && c < ctlLZMA:
		return fmt.Errorf("lzma2: control byte %#02x: %w", c, ErrCorrupt)
	case c == ctlStoredReset || c >= ctlDict:
		r.chunk = needProps
		r.d.resetDict()
	case r.chunk == needDict:
		return fmt.Errorf("lzma2: first chunk (control %#02x) does not reset the dictionary: %w", c, ErrCorrupt)
	}
	if c < ctlLZMA {
		if err := r.readHeader(h[1:3]); err != nil {
			return err
		}
		r.stored = true
		r.remaining = (int(h[1])<<8 | int(h[2])) + 1
		return nil
	}
	n := 4
	if c >= ctlProps {
		n = 5
	}
	if err := r.readHeader(h[1 : 1+n]); err != nil {
		return err
	}
	switch {
	case c >= ctlProps:
		if err := r.d.setProps(h[5]); err != nil {
			return err
		}
		r.chunk = ready
		r.d.resetState()
	case r.chunk == needProps:
		return fmt.Errorf("lzma2: LZMA chunk (control %#02x) without properties after a dictionary reset: %w", c, ErrCorrupt)
	case c >= ctlState:
		r.d.resetState()
	}
	r.stored = false
	r.remaining = (int(c&0x1f)<<16 | int(h[1])<<8 | int(h[2])) + 1
	packed := (int(h[3])<<8 | int(h[4])) + 1
	return r.d.loadChunk(r.src, packed)
}

// setProps decodes a properties byte: (pb * 5 + lp) * 9 + lc.
func (d *decoder) setProps(b byte) error {
	if b >= 9*5*5 {
		return fmt.Errorf("lzma2: properties byte %#02x: %w", b, ErrCorrupt)
	}
	lc, lp, pb := uint(b%9), uint(b/9%5), uint(b/45)
	if lc+lp > 4 {
		return fmt.Errorf("lzma2: lc %d, lp %d: %w", lc, lp, ErrProps)
	}
	d.lc, d.lpMask, d.pbMask = lc, 1<<lp-1, 1<<pb-1
	d.litSets = 1 << (lc + lp)
	return nil
}

// loadChunk reads an LZMA chunk's packed bytes and starts its range coder.
func (d *decoder) loadChunk(src io.Reader, packed int) error {
	if _, err := io.ReadFull(src, d.in[:packed]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// Both: the input is cut short, or the size is wrong.
			return fmt.Errorf("lzma2: input ends within a chunk's %d compressed bytes: %w (%w)",
				packed, io.ErrUnexpectedEOF, ErrPackedSize)
		}
		return err
	}
	d.packed = packed
	if packed < 5 || d.in[0] != 0 {
		return fmt.Errorf("lzma2: range coder start: %w", ErrCorrupt)
	}
	d.rng = 0xffffffff
	d.code = uint32(d.in[1])<<24 | uint32(d.in[2])<<16 | uint32(d.in[3])<<8 | uint32(d.in[4])
	d.ip = 5
	if d.code == d.rng {
		return fmt.Errorf("lzma2: range coder start: %w", ErrCorrupt)
	}
	return nil
}

// finishChunk checks an LZMA chunk ended where its header said: all its
// packed bytes used and the range coder's code back to zero.
func (d *decoder) finishChunk() error {
	if d.rng < topValue {
		d.rng <<= 8
		d.code = d.code<<8 | uint32(d.in[d.ip&inMask])
		d.ip++
	}
	if d.ip > d.packed {
		return fmt.Errorf("lzma2: chunk reads past its %d compressed bytes: %w", d.packed, ErrCorrupt)
	}
	if d.ip != d.packed || d.code != 0 {
		return fmt.Errorf("lzma2: %d of %d bytes used: %w", min(d.ip, d.packed), d.packed, ErrPackedSize)
	}
	return nil
}
