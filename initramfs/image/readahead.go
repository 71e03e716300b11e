package image

import (
	"io"
	"sync"
)

// Geometry of the read-ahead in front of a decompressor: at most aheadBufs
// buffers of aheadBufSize exist (1 MiB), so the download runs at most that
// far ahead of the decoder and memory stays flat.
const (
	aheadBufSize = 256 << 10
	aheadBufs    = 4
)

// readAhead reads a compressed stream on its own goroutine, so that the
// download (the socket reads, and the hashing they feed) runs on one core
// while the decoder runs on the other. Without it the decoder waited for
// every socket read: 36 % of the CPU samples of a 1 GiB raw.zst install
// were socket reads on the decoding goroutine. It costs one copy of the compressed
// bytes. Read is for one goroutine; Close stops the reading goroutine and
// waits for it.
type readAhead struct {
	full chan aheadPiece // read buffers, in order; closed after the last
	free chan []byte     // consumed buffers, back to the reader
	stop chan struct{}
	done chan struct{}
	once sync.Once

	cur []byte // what is left of the piece being consumed
	buf []byte // that piece's buffer, returned to free when consumed
	err error  // the error that ended the stream, once reached
}

type aheadPiece struct {
	buf []byte
	err error
}

func newReadAhead(r io.Reader) *readAhead {
	a := &readAhead{full: make(chan aheadPiece, aheadBufs), free: make(chan []byte, aheadBufs),
		stop: make(chan struct{}), done: make(chan struct{})}
	for range aheadBufs {
		a.free <- make([]byte, aheadBufSize)
	}
	go a.loop(r)
	return a
}

// loop reads r into free buffers until r fails or ends (io.EOF included)
// or Close is called. full has room for every buffer: a send never blocks.
func (a *readAhead) loop(r io.Reader) {
	defer close(a.done)
	defer close(a.full)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		select {
		case <-a.stop:
			return
		default:
		}
		n, err := fill(r, buf)
		a.full <- aheadPiece{buf: buf[:n], err: err}
		if err != nil {
			return
		}
	}
}

// Read returns the stream's bytes in order, then the error that ended it.
func (a *readAhead) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.err != nil {
			return 0, a.err
		}
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		pc, ok := <-a.full
		if !ok {
			return 0, io.ErrClosedPipe // Read after Close
		}
		a.cur, a.buf, a.err = pc.buf, pc.buf, pc.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the reading goroutine (after the read it is in, if any) and
// waits for it to end.
func (a *readAhead) Close() error {
	a.once.Do(func() { close(a.stop) })
	<-a.done
	return nil
}
