package lzma2

import (
	"fmt"
	"io"
)

// History gives the decoder bytes it decoded earlier but no longer holds,
// when its dictionary is larger than its buffer (ResetWindow): an xz
// installer writing the output to a disk can read them back from there
// instead of keeping the whole dictionary in memory.
type History interface {
	// ReadHistory fills p with the decoded bytes at offset off, counted
	// from the start of the stream given to ResetWindow. It is only asked
	// for bytes that Next has returned, at least HistoryLag bytes before
	// the last byte Next returned.
	ReadHistory(p []byte, off int64) error
}

// ResetWindow makes r decode a new LZMA2 stream from src with a
// dictionary of dictSize bytes of which only the newest window bytes are
// kept in memory; matches that reach further back are read from h. With
// window ≥ dictSize (or h nil) it is Reset(src, dictSize). window must be
// at least MinWindow.
func (r *Reader) ResetWindow(src io.Reader, window, dictSize int, h History) error {
	if h == nil || window >= dictSize {
		return r.Reset(src, dictSize)
	}
	if err := checkDict(dictSize); err != nil {
		return err
	}
	if window < MinWindow {
		return fmt.Errorf("lzma2: window of %d bytes, want at least %d", window, MinWindow)
	}
	buf := r.d.buf
	if cap(buf) < window {
		buf = make([]byte, window)
	}
	r.reset(src, buf[:window], dictSize)
	r.d.hist = h
	return nil
}

// MinWindow is the smallest window ResetWindow accepts. A call of Next
// decodes at most one chunk (2 MiB) before returning, and History is read
// in pages of 64 KiB: a byte further back than the window is at least
// window - 2 MiB - 64 KiB = HistoryLag before the last byte Next returned.
const (
	MinWindow  = 4 << 20
	HistoryLag = MinWindow - maxChunk - histPage
	maxChunk   = 2 << 20 // the largest uncompressed size of an LZMA2 chunk
)

// History is read in pages of histPage bytes, a few of which are kept:
// an LZMA encoder repeats distances, so far matches come in runs.
const (
	histPage  = 64 << 10
	histPages = 4
)

type histBuf struct {
	off  int64 // -1: empty
	data [histPage]byte
}

type histCache struct {
	p    [histPages]*histBuf
	next int
}

func (h *histCache) clear() {
	for _, p := range h.p {
		if p != nil {
			p.off = -1
		}
	}
}

// far copies n bytes that are dist back from the absolute position at
// (d.base + total) into buf[pos:], from History: dist > len(buf), so
// none of them is in buf. n ≤ 273 < len(buf) - pos is not required to be
// contiguous in pages.
func (d *decoder) far(buf []byte, pos, total, dist, n int) error {
	at := d.base + int64(total) - int64(dist)
	for n > 0 {
		pg, err := d.page(at)
		if err != nil {
			return err
		}
		i := int(at - pg.off)
		k := copy(buf[pos:pos+n], pg.data[i:])
		pos, n, at = pos+k, n-k, at+int64(k)
	}
	return nil
}

// farByte returns the byte dist back from the absolute position at
// (d.base + total).
func (d *decoder) farByte(total, dist int) (byte, error) {
	at := d.base + int64(total) - int64(dist)
	pg, err := d.page(at)
	if err != nil {
		return 0, err
	}
	return pg.data[at-pg.off], nil
}

// page returns the history page holding absolute offset at.
func (d *decoder) page(at int64) (*histBuf, error) {
	off := at &^ (histPage - 1)
	for _, p := range d.pages.p {
		if p != nil && p.off == off {
			return p, nil
		}
	}
	i := d.pages.next
	d.pages.next = (i + 1) % histPages
	p := d.pages.p[i]
	if p == nil {
		p = new(histBuf)
		d.pages.p[i] = p
	}
	p.off = -1
	if err := d.hist.ReadHistory(p.data[:], off); err != nil {
		return nil, fmt.Errorf("lzma2: history at %d: %w", off, err)
	}
	p.off = off
	return p, nil
}
