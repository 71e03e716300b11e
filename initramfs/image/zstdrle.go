package image

import (
	"bytes"
	"encoding/binary"
	"io"
)

// rleAsRaw passes a zstd stream through unchanged, except that each RLE
// block (one byte repeated, as zstd writes runs of zeros) becomes a raw
// block of the same bytes. klauspost/compress/zstd (v1.20.3 and v1.20.4)
// fills an RLE block one byte at a time; a raw block it copies. On a 1 GiB
// sparse raw.zst (6965 RLE blocks, 913 MB of zeros) that loop was 320 of
// the 600 ms of an install's CPU samples. The stream's meaning does not
// change: the same bytes come out, and the frame's checksum covers them.
//
// It parses no more than the frame format needs: frame headers (for their
// length and checksum flag), skippable frames, and block headers. RLE
// blocks larger than a raw block may be (128 KiB), a reserved block type,
// and anything after an unknown magic number pass through as they are, for
// the decoder to refuse.
type rleAsRaw struct {
	r    io.Reader
	obuf [32]byte
	out  []byte // header bytes to hand out before anything else (in obuf)

	state    int
	left     int  // bytes of the current part still to pass or expand
	last     bool // the current block is the frame's last
	checksum bool // the current frame ends with a 4-byte checksum

	fill  []byte // zstdMaxBlock bytes of fillV
	fillV byte
}

const (
	rleFrame     = iota // at a frame's start
	rleBlock            // at a block header
	rlePass             // passing left bytes through
	rleExpand           // handing out left bytes of fillV
	rleRest             // passing everything through
	rleDone             // the stream ended
	zstdMaxBlock = 128 << 10
)

func newRLEAsRaw(r io.Reader) *rleAsRaw { return &rleAsRaw{r: r} }

func (z *rleAsRaw) Read(p []byte) (int, error) {
	for {
		if len(z.out) > 0 {
			n := copy(p, z.out)
			z.out = z.out[n:]
			return n, nil
		}
		switch z.state {
		case rleDone:
			return 0, io.EOF
		case rleRest:
			return z.r.Read(p)
		case rlePass, rleExpand:
			if z.left == 0 {
				z.next()
				continue
			}
			if z.state == rleExpand {
				n := copy(p[:min(len(p), z.left)], z.fill)
				z.left -= n
				return n, nil
			}
			n, err := z.r.Read(p[:min(len(p), z.left)])
			z.left -= n
			if err == io.EOF {
				z.state = rleDone
				if n > 0 {
					err = nil
				}
			}
			return n, err
		case rleFrame:
			if err := z.frame(); err != nil {
				return 0, err
			}
		case rleBlock:
			if err := z.block(); err != nil {
				return 0, err
			}
		}
	}
}

// next moves on after a block's data: to the next block, or past the
// frame's checksum to the next frame.
func (z *rleAsRaw) next() {
	switch {
	case !z.last:
		z.state = rleBlock
	case z.checksum:
		z.state, z.left, z.checksum = rlePass, 4, false
	default:
		z.state = rleFrame
	}
}

// take reads n more header bytes and queues them for output. At the end
// of the stream it queues what it got and ends the stream after it, for
// the decoder to report the truncation: ok is false then.
func (z *rleAsRaw) take(n int) (_ []byte, ok bool, _ error) {
	start := len(z.out)
	buf := z.obuf[:start+n]
	k, err := io.ReadFull(z.r, buf[start:])
	z.out = buf[:start+k]
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		z.state = rleDone
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return buf[start:], true, nil
}

func (z *rleAsRaw) frame() error {
	z.out = z.obuf[:0]
	m, ok, err := z.take(4)
	if !ok {
		return err
	}
	if m[0]&0xf0 == 0x50 && bytes.Equal(m[1:], zstdSkippable) { // its size, then its data
		s, ok, err := z.take(4)
		if !ok {
			return err
		}
		z.state, z.left = rlePass, int(binary.LittleEndian.Uint32(s))
		z.last, z.checksum = true, false
		return nil
	}
	if !bytes.Equal(m, zstdMagic) {
		z.state = rleRest
		return nil
	}
	d, ok, err := z.take(1)
	if !ok {
		return err
	}
	fhd := d[0]
	single := fhd>>5&1 == 1
	n := [4]int{0, 1, 2, 4}[fhd&3] // dictionary ID
	if !single {
		n++ // window descriptor
	}
	n += [4]int{0, 2, 4, 8}[fhd>>6] // frame content size
	if fhd>>6 == 0 && single {
		n++
	}
	if _, ok, err := z.take(n); !ok {
		return err
	}
	z.checksum = fhd>>2&1 == 1
	z.state = rleBlock
	return nil
}

func (z *rleAsRaw) block() error {
	z.out = z.obuf[:0]
	h, ok, err := z.take(3)
	if !ok {
		return err
	}
	bh := uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16
	z.last = bh&1 == 1
	size := int(bh >> 3)
	switch bh >> 1 & 3 {
	case 1: // RLE: one byte, size times
		v, ok, err := z.take(1)
		if !ok {
			return err
		}
		if size > zstdMaxBlock { // not a valid block: let the decoder say so
			z.next()
			return nil
		}
		raw := bh &^ 6 // block type 0: raw
		z.out = append(z.obuf[:0], byte(raw), byte(raw>>8), byte(raw>>16))
		z.setFill(v[0])
		z.state, z.left = rleExpand, size
	case 3: // reserved: the decoder refuses it
		z.state = rleRest
	default: // raw or compressed: size bytes follow
		z.state, z.left = rlePass, size
	}
	return nil
}

// setFill makes z.fill zstdMaxBlock bytes of v.
func (z *rleAsRaw) setFill(v byte) {
	if z.fill == nil {
		z.fill = make([]byte, zstdMaxBlock)
	} else if z.fillV == v {
		return
	}
	z.fillV = v
	z.fill[0] = v
	for n := 1; n < len(z.fill); n *= 2 {
		copy(z.fill[n:], z.fill[:n])
	}
}
