package image

import (
	"bufio"
	"fmt"
	"io"

	"github.com/byoi/byoi/initramfs/preflight"
)

// headStep is how much more of the stream headReader decodes when a read
// goes past what it holds.
const headStep = 1 << 20

// headPublish is how often grow publishes what it holds (see grow); far
// below lzma2.HistoryLag.
const headPublish = 256 << 10

// headReader keeps the first bytes of a sequential stream (the decoded disk
// of a compressed image, or a raw file) in memory for pre-flight: it reads
// only as far as the checks ask, in steps of headStep, and at most limit
// bytes. The write then reads those bytes (Read, Peek) before the rest of
// the stream, so nothing is downloaded or decoded twice. ReadAt beyond
// limit goes to far (a raw file: ranged reads that leave the stream where
// it is) or fails with an error wrapping preflight.ErrBeyondHead.
type headReader struct {
	r       *bufio.Reader
	limit   int
	far     func(p []byte, off int64) (int, error)
	onGrow  func(buf []byte) // told of every new buf (xz's read-back history)
	buf     []byte
	eof     bool  // the stream ended inside buf
	err     error // the stream failed while buf was filled
	pos     int   // bytes of buf consumed by Read
	drained bool  // buf was consumed and released
}

// ReadAt reads the stream's bytes at off, decoding more of it as needed.
func (h *headReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	end := off + int64(len(p))
	if end > int64(len(h.buf)) && !h.eof && h.err == nil && len(h.buf) < h.limit {
		h.grow(int(min(int64(h.limit), (end+headStep-1)/headStep*headStep)))
	}
	n := 0
	if off < int64(len(h.buf)) {
		n = copy(p, h.buf[off:])
	}
	switch {
	case n == len(p):
		return n, nil
	case h.eof:
		return n, io.EOF
	case h.err != nil:
		return n, h.err
	case h.far != nil:
		m, err := h.far(p[n:], off+int64(n))
		return n + m, err
	}
	return n, fmt.Errorf("read of %d bytes at offset %d: %w (%d bytes buffered)", len(p), off, preflight.ErrBeyondHead, len(h.buf))
}

// grow reads the stream until buf holds size bytes, it ends or fails. It
// publishes buf (onGrow) every headPublish bytes: xz's decoder may wait
// for bytes it produced earlier (its read-back history, well behind what
// it decodes now) before it produces more.
func (h *headReader) grow(size int) {
	if cap(h.buf) < size {
		nb := make([]byte, len(h.buf), max(size, min(h.limit, 2*cap(h.buf))))
		copy(nb, h.buf)
		h.buf = nb
	}
	for len(h.buf) < size && !h.eof && h.err == nil {
		old := len(h.buf)
		n, err := fill(h.r, h.buf[old:min(size, old+headPublish)])
		h.buf = h.buf[:old+n]
		switch {
		case err == io.EOF:
			h.eof = true
		case err != nil:
			h.err = err
		}
		if h.onGrow != nil {
			h.onGrow(h.buf)
		}
	}
}

// Read returns the buffered bytes, then the rest of the stream.
func (h *headReader) Read(p []byte) (int, error) {
	if !h.drained {
		if h.pos < len(h.buf) {
			n := copy(p, h.buf[h.pos:])
			h.pos += n
			return n, nil
		}
		h.drained, h.buf = true, nil
	}
	if h.eof {
		return 0, io.EOF
	}
	if h.err != nil {
		return 0, h.err
	}
	return h.r.Read(p)
}

// Peek returns the next n bytes without consuming them; n is at most 1
// while buffered bytes remain (all decodeChunks asks).
func (h *headReader) Peek(n int) ([]byte, error) {
	if !h.drained && h.pos < len(h.buf) {
		return h.buf[h.pos:min(len(h.buf), h.pos+n)], nil
	}
	if h.eof {
		return nil, io.EOF
	}
	if h.err != nil {
		return nil, h.err
	}
	return h.r.Peek(n)
}
