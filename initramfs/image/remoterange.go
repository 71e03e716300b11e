package image

import (
	"fmt"
	"io"

	"github.com/byoi/byoi/initramfs/preflight"
)

// preflightWindow is how much of the file's start pre-flight reads go
// through the stream for (the blocks then wait in the cache, which holds
// twice that, for the write); further ahead they are Range requests, so
// however the checks jump around, the stream never passes (and the cache
// never drops) bytes the write has not read yet.
const preflightWindow = cacheBlocks * blockSize / 2

// errNoRange: a ranged read from a server that ignores Range. Pre-flight
// then reports what it could not check (it wraps preflight.ErrBeyondHead).
var errNoRange = fmt.Errorf("the server ignores Range requests: %w", preflight.ErrBeyondHead)

// rangeAt reads p at off with one Range request, leaving the stream and
// the cache as they are. The bytes are downloaded again when the stream
// passes them: pre-flight reads only a few KiB of metadata this way.
func (r *remote) rangeAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	var eof error
	if r.f.size >= 0 {
		if off >= r.f.size {
			return 0, io.EOF
		}
		if end := off + int64(len(p)); end > r.f.size {
			p, eof = p[:r.f.size-off], io.EOF
		}
	}
	if len(p) == 0 {
		return 0, eof
	}
	if r.f.noRange.Load() {
		return 0, errNoRange
	}
	restarted := false
	err := r.f.retry(r.ctx, "range", func() error {
		body, again, err := r.f.get(r.ctx, off, off+int64(len(p)))
		if err != nil {
			return err
		}
		defer body.Close()
		if restarted = again; again {
			return nil
		}
		_, err = io.ReadFull(body, p)
		return err
	})
	if err != nil {
		return 0, r.fail(err)
	}
	if restarted {
		return 0, errNoRange
	}
	return len(p), eof
}

// preflightAt reads the file's first preflightWindow bytes (and what the
// stream has passed) through the stream and cache, with rangeAt beyond.
func (r *remote) preflightAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	pos := r.pos
	r.mu.Unlock()
	if end := off + int64(len(p)); end <= preflightWindow || end <= pos {
		return r.ReadAt(p, off)
	}
	return r.rangeAt(p, off)
}
