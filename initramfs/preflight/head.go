package preflight

import (
	"errors"
	"fmt"
	"io"
)

// MaxHead is the most of a compressed stream the caller should buffer for
// the checks (the bounded head the write then consumes).
const MaxHead = 32 << 20

// ErrBeyondHead is wrapped by reads past the buffered head of a stream.
var ErrBeyondHead = errors.New("needs more than the buffered head")

// Head is an io.ReaderAt over the first bytes of an image that arrives as a
// stream (gzip, xz, zstd): the caller decompresses up to MaxHead bytes into
// Data, checks them, then writes them before the rest of the stream. A read
// beyond Data fails with an error wrapping ErrBeyondHead, unless Complete
// says Data is the whole image (then it is io.EOF, as for a file).
type Head struct {
	Data     []byte
	Complete bool
}

// ReadAt implements io.ReaderAt.
func (h Head) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off+int64(len(p)) <= int64(len(h.Data)) {
		return copy(p, h.Data[off:]), nil
	}
	n := 0
	if off < int64(len(h.Data)) {
		n = copy(p, h.Data[off:])
	}
	if h.Complete {
		return n, io.EOF
	}
	return n, fmt.Errorf("read of %d bytes at offset %d: %w (%d bytes buffered)", len(p), off, ErrBeyondHead, len(h.Data))
}
