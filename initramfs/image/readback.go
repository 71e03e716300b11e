package image

import (
	"errors"
	"io"
	"sync"
)

// readBack gives a decoder the bytes of a raw stream it decoded earlier,
// read back from the target they were written to (byte k of the stream is
// at offset k of the disk): xz's LZMA2 then keeps only the newest part of
// a large dictionary in memory (lzma2.History). The writer publishes how
// far it got; a read waits until the bytes it wants are written or known
// to be zero, which the decoder's lag behind the writer makes immediate.
type readBack struct {
	t io.ReaderAt

	mu      sync.Mutex
	cond    sync.Cond
	handled int64 // stream bytes written, zeroed, or in the pending zero run
	zeroOff int64 // the writer's pending zero run: not on the disk yet
	zeroLen int64
	closed  bool
	// head is the stream's first bytes while pre-flight's buffer holds
	// them: served from memory until the writer has handled them all.
	head []byte
}

// setHead makes the decoded bytes buf (the stream's first ones) readable
// before they are written; a read waiting for bytes buf now holds returns.
func (b *readBack) setHead(buf []byte) {
	b.mu.Lock()
	b.head = buf
	b.mu.Unlock()
	b.cond.Broadcast()
}

// errReadBackClosed ends a read when the stream is over (failed or done).
var errReadBackClosed = errors.New("read back: the write has ended")

func newReadBack(t io.ReaderAt) *readBack {
	b := &readBack{t: t}
	b.cond.L = &b.mu
	return b
}

// publish records that the writer handled the stream up to end, with
// [zeroOff, zeroOff+zeroLen) a zero run it has not applied yet.
func (b *readBack) publish(end, zeroOff, zeroLen int64) {
	b.mu.Lock()
	b.handled = max(b.handled, end)
	b.zeroOff, b.zeroLen = zeroOff, zeroLen
	if b.handled >= int64(len(b.head)) {
		b.head = nil
	}
	b.mu.Unlock()
	b.cond.Broadcast()
}

// close makes waiting and later reads fail.
func (b *readBack) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
}

// ReadHistory fills p with the stream's bytes at off.
func (b *readBack) ReadHistory(p []byte, off int64) error {
	end := off + int64(len(p))
	b.mu.Lock()
	for !b.closed && b.handled < end && end > int64(len(b.head)) {
		b.cond.Wait()
	}
	if off >= 0 && end <= int64(len(b.head)) { // still in pre-flight's buffer
		copy(p, b.head[off:end])
		b.mu.Unlock()
		return nil
	}
	closed, zo, zl := b.closed, b.zeroOff, b.zeroLen
	b.mu.Unlock()
	if closed {
		return errReadBackClosed
	}
	// The pending zero run is the newest handled part: before it the
	// disk holds the stream, inside it the stream is zeros.
	if zl > 0 && zo < end {
		z := max(zo, off)
		clear(p[z-off:])
		p = p[:z-off]
	}
	if len(p) == 0 {
		return nil
	}
	n, err := b.t.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
