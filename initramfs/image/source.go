package image

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"sync"
)

// source is the image file as the installer reads it: remote (the HTTP
// download) or localSource (a file already on this machine).
type source interface {
	io.ReaderAt
	// Size returns the file's size, -1 if unknown.
	Size() int64
	// sequential reads the file from off on, for a reader that never goes
	// back (it may cost a re-fetch if one does).
	sequential(off int64) io.Reader
	// finish makes sure the whole file was read and returns its digest ("" if
	// no checksum was asked) and size.
	finish() (digest string, n int64, err error)
	// rangeAt reads p at off without moving the sequential stream (remote:
	// a Range request), for pre-flight reads far ahead of the write.
	rangeAt(p []byte, off int64) (int, error)
	// preflightAt is ReadAt for pre-flight: through the stream near its
	// position, with rangeAt far ahead of it, so that the stream never
	// passes bytes the write will want before the write reads them.
	preflightAt(p []byte, off int64) (int, error)
	// failure returns the I/O failure behind a failed read (as opposed to
	// bad image data), nil if there was none.
	failure() error
	Close() error
}

// localSource reads an image from an io.ReaderAt of known size. When a
// checksum is asked, a goroutine hashes the file front to back with its own
// reads while the installer decodes and writes; finish waits for it.
type localSource struct {
	ctx  context.Context
	r    io.ReaderAt
	size int64

	mu     sync.Mutex
	failed error

	cancel context.CancelFunc
	done   chan struct{} // closed when the hash goroutine ends; nil without hash
	digest string
	herr   error
}

// localHashBuf is the read size of the hashing goroutine.
const localHashBuf = 1 << 20

func newLocalSource(ctx context.Context, r io.ReaderAt, size int64, h hash.Hash) *localSource {
	l := &localSource{ctx: ctx, r: r, size: size}
	if h != nil {
		hctx, cancel := context.WithCancel(ctx)
		l.cancel, l.done = cancel, make(chan struct{})
		go l.hash(hctx, h)
	}
	return l
}

func (l *localSource) hash(ctx context.Context, h hash.Hash) {
	defer close(l.done)
	buf := make([]byte, localHashBuf)
	for off := int64(0); off < l.size; {
		if err := ctx.Err(); err != nil {
			l.herr = err
			return
		}
		n, err := l.r.ReadAt(buf[:min(int64(len(buf)), l.size-off)], off)
		h.Write(buf[:n])
		off += int64(n)
		if err != nil && !(errors.Is(err, io.EOF) && off == l.size) {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("file ended at %d of %d bytes: %w", off, l.size, io.ErrUnexpectedEOF)
			}
			l.herr = fmt.Errorf("read image at %d: %w", off, err)
			return
		}
	}
	l.digest = hex.EncodeToString(h.Sum(nil))
}

// ReadAt reads the file, remembering I/O errors (not io.EOF) as failures.
func (l *localSource) ReadAt(p []byte, off int64) (int, error) {
	n, err := l.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		l.mu.Lock()
		l.failed = fmt.Errorf("read image at %d: %w", off, err)
		l.mu.Unlock()
	}
	return n, err
}

func (l *localSource) Size() int64 { return l.size }

func (l *localSource) rangeAt(p []byte, off int64) (int, error) { return l.ReadAt(p, off) }

func (l *localSource) preflightAt(p []byte, off int64) (int, error) { return l.ReadAt(p, off) }

func (l *localSource) sequential(off int64) io.Reader {
	return io.NewSectionReader(l, off, math.MaxInt64-off)
}

func (l *localSource) failure() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

func (l *localSource) finish() (string, int64, error) {
	if l.done == nil {
		return "", l.size, nil
	}
	<-l.done
	if l.herr != nil {
		l.mu.Lock()
		l.failed = l.herr
		l.mu.Unlock()
		return "", l.size, l.herr
	}
	return l.digest, l.size, nil
}

// Close stops the hashing goroutine and waits for it.
func (l *localSource) Close() error {
	if l.done != nil {
		l.cancel()
		<-l.done
	}
	return nil
}
