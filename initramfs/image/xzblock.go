package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"strings"

	"github.com/byoi/byoi/initramfs/image/lzma2"
)

// xzBlock is a parsed block header; sizes are -1 when the header omits them.
type xzBlock struct {
	pos          string // "block N", for errors
	hdrSize      int64
	compressed   int64
	uncompressed int64
	dict         int64 // the LZMA2 dictionary size the header declares
	check        byte
}

// unpadded is the block's size as the index records it.
func (b *xzBlock) unpadded() int64 {
	return b.hdrSize + b.compressed + int64(checkSize(b.check))
}

// tail is the size of the block padding and check after the LZMA2 data.
func (b *xzBlock) tail() int64 {
	return (4-(b.hdrSize+b.compressed)%4)%4 + int64(checkSize(b.check))
}

// dictCap is the dictionary to allocate: the declared size, but no more
// than the block holds when its header says.
func (b *xzBlock) dictCap() int {
	d := b.dict
	if b.uncompressed >= 0 {
		d = min(d, b.uncompressed)
	}
	return int(max(d, lzma2.MinDict))
}

// memory is what decoding the block in parallel holds: its compressed
// bytes and its decoded bytes, which are also its dictionary.
func (b *xzBlock) memory() int64 {
	return b.compressed + b.tail() + max(b.uncompressed, lzma2.MinDict)
}

// blockHeader reads the rest of a block header whose first byte was size.
func (s *xzSource) blockHeader(size byte) (*xzBlock, error) {
	h := make([]byte, (int(size)+1)*4)
	h[0] = size
	if err := s.full(h[1:]); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	body, sum := h[:len(h)-4], h[len(h)-4:]
	if crc32.ChecksumIEEE(body) != binary.LittleEndian.Uint32(sum) {
		return nil, fmt.Errorf("header: bad CRC32: %w", errXZCorrupt)
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return nil, fmt.Errorf("header: reserved flags %#02x: %w", flags, errXZUnsupported)
	}
	r := bytes.NewReader(body[2:])
	b := &xzBlock{hdrSize: int64(len(h)), compressed: -1, uncompressed: -1}
	if flags&0x40 != 0 {
		v, err := readVLI(r)
		if err != nil || v == 0 || v > maxVLI-uint64(b.hdrSize)-64 {
			return nil, fmt.Errorf("header: bad compressed size: %w", errXZCorrupt)
		}
		b.compressed = int64(v)
	}
	if flags&0x80 != 0 {
		v, err := readVLI(r)
		if err != nil {
			return nil, fmt.Errorf("header: bad uncompressed size: %w", errXZCorrupt)
		}
		b.uncompressed = int64(v)
	}
	if err := b.filters(r, int(flags&3)+1); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	for r.Len() > 0 {
		if c, _ := r.ReadByte(); c != 0 {
			return nil, fmt.Errorf("header: non-zero padding: %w", errXZCorrupt)
		}
	}
	return b, nil
}

// filters reads the filter flags: one LZMA2 filter is all that is decoded.
func (b *xzBlock) filters(r *bytes.Reader, n int) error {
	for i := range n {
		id, err := readVLI(r)
		if err != nil {
			return fmt.Errorf("filter flags: %w", errXZCorrupt)
		}
		size, err := readVLI(r)
		if err != nil || size > uint64(r.Len()) {
			return fmt.Errorf("filter flags: %w", errXZCorrupt)
		}
		props := make([]byte, size)
		r.Read(props)
		if id != xzLZMA2 {
			name := xzFilterNames[id]
			if name == "" {
				name = "unknown"
			}
			return fmt.Errorf("filter %s (%#x), only LZMA2 is decoded: %w", name, id, errXZUnsupported)
		}
		if i != n-1 || size != 1 || props[0] > maxLZMA2Prop {
			return fmt.Errorf("bad LZMA2 filter flags: %w", errXZCorrupt)
		}
		b.dict = lzma2Dict(props[0])
	}
	if b.dict > maxXZDict {
		return fmt.Errorf("LZMA2 dictionary of %d MiB is larger than the %d MiB the installer allows: %w",
			b.dict>>20, maxXZDict>>20, errXZLimit)
	}
	return nil
}

// lzma2Dict decodes an LZMA2 dictionary size property (0..40).
func lzma2Dict(p byte) int64 {
	if p == maxLZMA2Prop {
		return 1<<32 - 1
	}
	return int64(2|p&1) << (p/2 + 11)
}

// blockSync decodes a block on run's goroutine, emitting 1 MiB pieces.
func (x *xzReader) blockSync(b *xzBlock) error {
	start := x.src.n
	var in io.Reader = x.src
	if b.compressed >= 0 {
		in = io.LimitReader(x.src, b.compressed)
	}
	if x.seq == nil {
		x.seq = new(lzma2.Reader)
	}
	dec := x.seq
	var err error
	if x.hist != nil {
		err = dec.ResetWindow(in, xzWindow, b.dictCap(), streamHistory{x.hist, x.produced})
	} else {
		err = dec.Reset(in, b.dictCap())
	}
	if err != nil {
		return x.src.lzmaError(err)
	}
	sum := newXZCheck(b.check)
	var total int64
	buf := x.piece()
	for {
		p, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return x.src.lzmaError(err)
		}
		total += int64(len(p))
		if b.uncompressed >= 0 && total > b.uncompressed {
			return fmt.Errorf("more data than the header's uncompressed size: %w", errXZCorrupt)
		}
		sum.Write(p)
		for len(p) > 0 {
			k := min(len(p), cap(buf)-len(buf))
			buf, p = append(buf, p[:k]...), p[k:]
			if len(buf) == cap(buf) {
				if !x.emit(&xzPiece{buf: buf, done: x.ready, piece: true}) {
					return errXZClosed
				}
				buf = x.piece()
			}
		}
	}
	if len(buf) > 0 && !x.emit(&xzPiece{buf: buf, done: x.ready, piece: true}) {
		return errXZClosed
	}
	if b.uncompressed >= 0 && total != b.uncompressed {
		return fmt.Errorf("less data than the header's uncompressed size: %w", errXZCorrupt)
	}
	n := x.src.n - start
	if b.compressed >= 0 && n != b.compressed {
		return fmt.Errorf("compressed size differs from the header: %w", errXZCorrupt)
	}
	b.compressed, b.uncompressed = n, total
	tail := make([]byte, b.tail())
	if err := x.src.full(tail); err != nil {
		return err
	}
	return checkTail(b, tail, sum)
}

// streamHistory maps a block's History offsets (from the block's start)
// to the stream's.
type streamHistory struct {
	h    lzma2.History
	base int64
}

func (s streamHistory) ReadHistory(p []byte, off int64) error { return s.h.ReadHistory(p, s.base+off) }

// checkTail verifies the block padding and the check of the decoded data.
func checkTail(b *xzBlock, tail []byte, sum *xzCheck) error {
	pad := len(tail) - checkSize(b.check)
	if bytes.Count(tail[:pad], []byte{0}) != pad {
		return fmt.Errorf("non-zero block padding: %w", errXZCorrupt)
	}
	if !bytes.Equal(sum.Sum(), tail[pad:]) {
		return fmt.Errorf("%s mismatch: %w", sum.name(), errXZCorrupt)
	}
	return nil
}

// lzmaError wraps an error of the LZMA2 decoder: the source's own read
// error if there was one (the network, not the data), else corrupt data.
func (s *xzSource) lzmaError(err error) error {
	if s.err != nil {
		return s.err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("truncated LZMA2 data: %w", errXZCorrupt)
	}
	return fmt.Errorf("LZMA2 data: %s: %w", strings.TrimPrefix(err.Error(), "lzma2: "), errXZCorrupt)
}

// xzCheck computes a block's check: CRC32, CRC64 (little-endian, as xz
// stores them) or SHA-256.
type xzCheck struct {
	id  byte
	c32 uint32
	c64 uint64
	sha hash.Hash
}

var crc64Table = crc64.MakeTable(crc64.ECMA)

func newXZCheck(id byte) *xzCheck {
	c := &xzCheck{id: id}
	if id == 0x0a {
		c.sha = sha256.New()
	}
	return c
}

func (c *xzCheck) Write(p []byte) {
	switch c.id {
	case 0x01:
		c.c32 = crc32.Update(c.c32, crc32.IEEETable, p)
	case 0x04:
		c.c64 = crc64.Update(c.c64, crc64Table, p)
	case 0x0a:
		c.sha.Write(p)
	}
}

func (c *xzCheck) Sum() []byte {
	switch c.id {
	case 0x01:
		return binary.LittleEndian.AppendUint32(nil, c.c32)
	case 0x04:
		return binary.LittleEndian.AppendUint64(nil, c.c64)
	case 0x0a:
		return c.sha.Sum(nil)
	}
	return nil
}

func (c *xzCheck) name() string {
	return map[byte]string{0x01: "CRC32", 0x04: "CRC64", 0x0a: "SHA-256"}[c.id]
}
