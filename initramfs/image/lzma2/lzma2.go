// Package lzma2 decodes LZMA2 data, the compressed payload of an xz block,
// into a dictionary of a size the caller chooses and never grows.
//
// It is written for the installer's hot path: decoded bytes land directly
// in the dictionary, a circular buffer, and Next hands out slices of it;
// each LZMA chunk's compressed bytes (at most 64 KiB) are read in one call
// and decoded from memory. The reader consumes exactly the LZMA2 data,
// through its end marker, and never reads past it, so an xz parser can
// continue with the block padding from the same reader.
//
// Usage:
//
//	r, err := lzma2.NewReader(src, 8<<20) // the block's dictionary size
//	if err != nil { ... }
//	for {
//		p, err := r.Next() // valid until the next call
//		if err == io.EOF { break } // the end marker
//		if err != nil { ... }
//		use(p)
//	}
//
// Malformed data gives an error wrapping ErrCorrupt; data that ends before
// the end marker gives one wrapping io.ErrUnexpectedEOF; an error of the
// underlying reader is returned as it is.
package lzma2

import (
	"errors"
	"fmt"
	"io"
)

// Limits of the dictionary size given to NewReader.
const (
	MinDict = 4096
	MaxDict = 1<<32 - 1
)

// ErrCorrupt is malformed LZMA2 data.
var ErrCorrupt = errors.New("corrupt data")

// Errors for input that xz's liblzma refuses but a laxer decoder (such as
// github.com/ulikunitz/xz/lzma) may accept; they all wrap ErrCorrupt.
var (
	// ErrPackedSize is an LZMA chunk whose data ends before its declared
	// compressed size, or whose range coder does not end cleanly, or
	// whose declared compressed size goes past the end of the input (that
	// error also wraps io.ErrUnexpectedEOF).
	ErrPackedSize = fmt.Errorf("chunk data ends before its compressed size: %w", ErrCorrupt)
	// ErrEndMarker is an LZMA end-of-payload marker, not allowed in LZMA2.
	ErrEndMarker = fmt.Errorf("end-of-payload marker in a chunk: %w", ErrCorrupt)
	// ErrProps is a properties byte with lc + lp > 4.
	ErrProps = fmt.Errorf("properties with lc + lp > 4: %w", ErrCorrupt)
)

// Reader decodes an LZMA2 stream. It is not safe for concurrent use.
type Reader struct {
	src    io.Reader
	byteRd io.ByteReader // src, when it reads single bytes cheaply
	err    error         // sticky: io.EOF after the end marker

	d     decoder
	start int // buf[start:d.pos] is decoded and not yet returned

	chunk     chunkState
	remaining int  // bytes of the current chunk not yet decoded
	stored    bool // the current chunk is uncompressed
}

// NewReader returns a reader of the LZMA2 stream in src with a dictionary
// of dictSize bytes (MinDict to MaxDict; a larger declared dictionary
// makes matches beyond dictSize fail as corrupt data).
func NewReader(src io.Reader, dictSize int) (*Reader, error) {
	r := &Reader{}
	if err := r.Reset(src, dictSize); err != nil {
		return nil, err
	}
	return r, nil
}

// Reset makes r decode a new LZMA2 stream from src with a dictionary of
// dictSize bytes, as NewReader does, reusing r's memory: its dictionary
// is reallocated only when it is smaller than dictSize.
func (r *Reader) Reset(src io.Reader, dictSize int) error {
	if err := checkDict(dictSize); err != nil {
		return err
	}
	buf := r.d.buf
	if cap(buf) < dictSize {
		buf = make([]byte, dictSize)
	}
	r.reset(src, buf[:dictSize], dictSize)
	return nil
}

// ResetInto makes r decode a new LZMA2 stream from src into buf, with a
// dictionary of dictSize bytes (at most len(buf)): matches reach at most
// dictSize bytes back, and no decoded byte is overwritten before len(buf)
// bytes were decoded. A stream that decodes to at most len(buf) bytes n
// therefore ends with all of them in buf[:n], in order, and Next returns
// consecutive slices of buf: a block whose size is known is decoded in
// place, with no separate dictionary.
func (r *Reader) ResetInto(src io.Reader, buf []byte, dictSize int) error {
	if err := checkDict(dictSize); err != nil {
		return err
	}
	if len(buf) < dictSize {
		return fmt.Errorf("lzma2: buffer of %d bytes for a dictionary of %d", len(buf), dictSize)
	}
	r.reset(src, buf, dictSize)
	return nil
}

func checkDict(dictSize int) error {
	if dictSize < MinDict || int64(dictSize) > MaxDict {
		return fmt.Errorf("lzma2: dictionary of %d bytes, want %d to %d", dictSize, MinDict, int64(MaxDict))
	}
	return nil
}

func (r *Reader) reset(src io.Reader, buf []byte, dict int) {
	in, pages := r.d.in, r.d.pages
	if in == nil {
		in = new(inWindow)
	}
	*r = Reader{src: src}
	r.byteRd, _ = src.(io.ByteReader)
	r.d.buf, r.d.dict, r.d.in, r.d.pages = buf, dict, in, pages
	r.d.pages.clear()
}

// Next returns the next decoded bytes, a slice of the dictionary that
// stays valid until the next call to Next or Read. At the end marker it
// returns io.EOF.
func (r *Reader) Next() ([]byte, error) {
	for {
		if r.start < r.d.pos {
			p := r.d.buf[r.start:r.d.pos]
			r.start = r.d.pos
			return p, nil
		}
		if r.err != nil {
			return nil, r.err
		}
		if r.d.pos == len(r.d.buf) {
			r.d.pos, r.start = 0, 0
		}
		if r.remaining == 0 {
			r.err = r.nextChunk()
			r.start = r.d.pos // a dictionary reset moves pos
			if r.err != nil {
				continue
			}
		}
		limit := min(len(r.d.buf), r.d.pos+r.remaining)
		before := r.d.pos
		if r.stored {
			r.err = r.readStored(limit)
		} else {
			r.err = r.d.decode(limit, r.remaining)
		}
		r.remaining -= r.d.pos - before
		if r.err == nil && r.remaining == 0 && !r.stored {
			r.err = r.d.finishChunk()
		}
	}
}

// Read copies decoded bytes into p; it returns io.EOF after the end marker.
func (r *Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if r.start == r.d.pos {
			q, err := r.Next()
			if err != nil {
				return n, err
			}
			r.start -= len(q) // unread: copy below
		}
		k := copy(p[n:], r.d.buf[r.start:r.d.pos])
		r.start += k
		n += k
	}
	return n, nil
}

// readStored reads an uncompressed chunk's bytes into the dictionary, up
// to limit.
func (r *Reader) readStored(limit int) error {
	n, err := io.ReadFull(r.src, r.d.buf[r.d.pos:limit])
	r.d.wrote(n)
	return truncated(err)
}

// readHeader reads the rest of a chunk header into h.
func (r *Reader) readHeader(h []byte) error {
	if r.byteRd != nil {
		for i := range h {
			b, err := r.byteRd.ReadByte()
			if err != nil {
				return truncated(err)
			}
			h[i] = b
		}
		return nil
	}
	_, err := io.ReadFull(r.src, h)
	return truncated(err)
}

// truncated turns running out of input into io.ErrUnexpectedEOF: the
// stream ends with its end marker, never with the input.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("lzma2: truncated: %w", io.ErrUnexpectedEOF)
	}
	return err
}
