package image

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/byoi/byoi/initramfs/image/inflate"
)

// gzipStream decodes a gzip file member after member, as gzip -d does, and
// decides what may follow the last member at its first byte: another
// member (two gzip files concatenated), zero bytes up to the end of the
// file (padding; gzip -d ignores them too), or nothing. Anything else is
// trailing garbage, which gzip -d ignores with a warning but the installer
// refuses: the checksum covers those bytes, the image does not. Members
// are parsed here (RFC 1952: header fields, header CRC, CRC32 and size of
// the data) and their deflate data decoded by the inflate package.
type gzipStream struct {
	src    *pushback
	z      *inflate.Reader
	crc    uint32
	size   uint32 // of the member's data, mod 2^32
	member int    // members started
	err    error
}

// errGzipTrailing is data after the last gzip member that is neither a
// member nor zero padding.
var errGzipTrailing = errors.New("trailing garbage")

// errGzipHeader is a malformed gzip member header or trailer.
var errGzipHeader = errors.New("invalid gzip data")

func newGzipStream(r io.Reader) (*gzipStream, error) {
	g := &gzipStream{src: &pushback{r: r}}
	if err := g.header(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *gzipStream) Read(p []byte) (int, error) {
	for g.err == nil {
		n, err := g.z.Read(p)
		g.crc = crc32.Update(g.crc, crc32.IEEETable, p[:n])
		g.size += uint32(n)
		if err == io.EOF {
			err = g.next()
		}
		if err != nil {
			g.err = err
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, g.err
}

// header reads a member's header and starts decoding its data.
func (g *gzipStream) header() error {
	at := g.src.pos()
	var h [10]byte
	if _, err := io.ReadFull(g.src, h[:]); err != nil {
		return fmt.Errorf("member %d at byte %d: header: %w", g.member+1, at, unexpected(err))
	}
	if h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || h[3]&0xe0 != 0 {
		return fmt.Errorf("member %d at byte %d: not a gzip header (%x): %w", g.member+1, at, h[:4], errGzipHeader)
	}
	hc := crc32.Update(0, crc32.IEEETable, h[:])
	flags := h[3]
	if flags&4 != 0 { // FEXTRA
		var x [2]byte
		if _, err := io.ReadFull(g.src, x[:]); err != nil {
			return unexpected(err)
		}
		hc = crc32.Update(hc, crc32.IEEETable, x[:])
		extra := make([]byte, binary.LittleEndian.Uint16(x[:]))
		if _, err := io.ReadFull(g.src, extra); err != nil {
			return unexpected(err)
		}
		hc = crc32.Update(hc, crc32.IEEETable, extra)
	}
	for _, f := range []byte{8, 16} { // FNAME, FCOMMENT: zero-terminated
		if flags&f == 0 {
			continue
		}
		for n := 0; ; n++ {
			var c [1]byte
			if _, err := io.ReadFull(g.src, c[:]); err != nil {
				return unexpected(err)
			}
			hc = crc32.Update(hc, crc32.IEEETable, c[:])
			if c[0] == 0 {
				break
			}
			if n > 1<<16 {
				return fmt.Errorf("member %d: header string longer than 64 KiB: %w", g.member+1, errGzipHeader)
			}
		}
	}
	if flags&2 != 0 { // FHCRC
		var c [2]byte
		if _, err := io.ReadFull(g.src, c[:]); err != nil {
			return unexpected(err)
		}
		if binary.LittleEndian.Uint16(c[:]) != uint16(hc) {
			return fmt.Errorf("member %d: header CRC mismatch: %w", g.member+1, errGzipHeader)
		}
	}
	if g.z == nil {
		g.z = inflate.NewReader(g.src)
	} else {
		g.z.Reset(g.src, nil)
	}
	g.member++
	g.crc, g.size = 0, 0
	return nil
}

// next checks the member's trailer and looks at what follows: io.EOF at
// the end of the file (or of its zero padding), nil when a new member
// starts.
func (g *gzipStream) next() error {
	g.src.unread(g.z.Rest())
	var t [8]byte
	if _, err := io.ReadFull(g.src, t[:]); err != nil {
		return fmt.Errorf("member %d: trailer: %w", g.member, unexpected(err))
	}
	if binary.LittleEndian.Uint32(t[:4]) != g.crc || binary.LittleEndian.Uint32(t[4:]) != g.size {
		return fmt.Errorf("member %d: data CRC32 or size does not match the trailer: %w", g.member, errGzipHeader)
	}
	at := g.src.pos()
	b, err := g.src.peek(2)
	switch {
	case len(b) == 0 && err == io.EOF:
		return io.EOF
	case len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b:
		return g.header()
	case len(b) > 0 && b[0] == 0:
		return g.zeros()
	case err != nil && err != io.EOF:
		return err
	}
	return fmt.Errorf("%w at byte %d, after gzip member %d: not a gzip member or zero padding", errGzipTrailing, at, g.member)
}

// zeros reads zero padding to the end of the file; the first other byte
// is trailing garbage.
func (g *gzipStream) zeros() error {
	start := g.src.pos()
	buf := make([]byte, 64<<10)
	for {
		at := g.src.pos()
		n, err := g.src.Read(buf)
		for i, c := range buf[:n] {
			if c != 0 {
				return fmt.Errorf("%w at byte %d, after %d zero bytes that follow gzip member %d", errGzipTrailing,
					at+int64(i), at+int64(i)-start, g.member)
			}
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
}

// Close releases nothing: the decoder's memory goes with the stream.
func (g *gzipStream) Close() error { return nil }

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// pushback reads r, after bytes given back with unread, and counts the
// bytes it delivered.
type pushback struct {
	r    io.Reader
	buf  []byte
	off  int
	read int64 // bytes read from r
}

func (p *pushback) Read(b []byte) (int, error) {
	if p.off < len(p.buf) {
		n := copy(b, p.buf[p.off:])
		p.off += n
		return n, nil
	}
	n, err := p.r.Read(b)
	p.read += int64(n)
	return n, err
}

// pos is the offset in r of the next byte Read returns.
func (p *pushback) pos() int64 { return p.read - int64(len(p.buf)-p.off) }

// unread gives b back, to be read before anything else.
func (p *pushback) unread(b []byte) {
	rest := p.buf[p.off:]
	p.buf = append(append(make([]byte, 0, len(b)+len(rest)), b...), rest...)
	p.off = 0
}

// peek returns the next n bytes (fewer at the end, with the error).
func (p *pushback) peek(n int) ([]byte, error) {
	b := make([]byte, n)
	m, err := io.ReadFull(p, b)
	p.unread(b[:m])
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return b[:m], err
}
