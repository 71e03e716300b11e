package image

import (
	"context"
	"fmt"
	"io"
	"sync"

	lib "github.com/lima-vm/go-qcow2reader/image/qcow2"
)

// qcow2Workers decode qcow2 data in parallel; qcow2Bufs chunk buffers of
// writeChunk bytes exist in all (decoding, decoded and waiting for the
// writer, being written), which bounds both memory and how far the reads run
// ahead of the write position (well inside the block cache).
const (
	qcow2Workers = 2
	qcow2Bufs    = qcow2Workers + 2
)

// chunk is one piece of the virtual disk on its way to the writer: a zero
// extent, or data decoded by a worker into buf.
type chunk struct {
	off, n int64
	zero   bool
	buf    []byte
	err    error
	done   chan struct{} // closed when buf holds the data (or err is set)
}

// convert walks the extents of img in order and writes them: a producer
// splits data extents into chunks that qcow2Workers goroutines decode
// concurrently (go-qcow2reader's ReadAt is safe for concurrent use), and
// this goroutine writes the chunks in disk order, so the sparse writer sees
// the same sequence as a serial conversion. It returns after every
// goroutine it started has ended.
func (in *installer) convert(img *lib.Qcow2, w *sparseWriter, virtual int64) error {
	ctx, cancel := context.WithCancel(in.ctx)
	defer cancel()
	order := make(chan *chunk, qcow2Bufs)
	work := make(chan *chunk, qcow2Bufs)
	free := make(chan []byte, qcow2Bufs)
	for range qcow2Bufs {
		free <- make([]byte, writeChunk)
	}
	var wg sync.WaitGroup
	wg.Go(func() { in.produce(ctx, img, virtual, order, work, free) })
	for range qcow2Workers {
		wg.Go(func() {
			for c := range work {
				c.err = readChunk(img, c.buf[:c.n], c.off)
				close(c.done)
			}
		})
	}
	err, decode := in.consume(order, free, w)
	cancel()
	for c := range order { // let the producer and workers finish
		<-c.done
	}
	wg.Wait()
	if decode { // classified only now: in.src is quiet
		return in.qcow2Error(err)
	}
	return err
}

// consume writes the chunks in order until the producer is done or a chunk
// or a write fails; decode says the error is the image's or the download's
// (not yet classified), not the target's.
func (in *installer) consume(order <-chan *chunk, free chan<- []byte, w *sparseWriter) (err error, decode bool) {
	for c := range order {
		<-c.done
		if c.err != nil {
			return c.err, true
		}
		if c.zero {
			if err := w.zeroRange(c.off, c.n); err != nil {
				return err, false
			}
			continue
		}
		err := w.writeAt(c.buf[:c.n], c.off)
		free <- c.buf
		if err != nil {
			return err, false
		}
	}
	return in.ctx.Err(), false
}

// produce sends every extent of the image to order, in disk order, and
// data chunks also to work; it closes both when done or cancelled.
func (in *installer) produce(ctx context.Context, img *lib.Qcow2, virtual int64, order, work chan<- *chunk, free <-chan []byte) {
	defer close(order)
	defer close(work)
	fail := func(off int64, err error) {
		c := &chunk{off: off, err: err, done: make(chan struct{})}
		close(c.done)
		select {
		case order <- c:
		case <-ctx.Done():
		}
	}
	for off := int64(0); off < virtual; {
		if ctx.Err() != nil {
			return
		}
		ext, err := img.Extent(off, min(virtual-off, 64<<20))
		if err != nil {
			fail(off, err)
			return
		}
		if ext.Length <= 0 {
			fail(off, fmt.Errorf("empty extent at %d", off))
			return
		}
		if ext.Zero || !ext.Allocated {
			c := &chunk{off: off, n: ext.Length, zero: true, done: make(chan struct{})}
			close(c.done)
			select {
			case order <- c:
			case <-ctx.Done():
				return
			}
			off += ext.Length
			continue
		}
		for end := off + ext.Length; off < end; {
			var buf []byte
			select {
			case buf = <-free:
			case <-ctx.Done():
				return
			}
			n := min(int64(len(buf)), end-off)
			c := &chunk{off: off, n: n, buf: buf, done: make(chan struct{})}
			// order has room for every buffer, so neither send blocks
			// for long; the worker closes done.
			order <- c
			work <- c
			off += n
		}
	}
}

// readChunk decodes len(buf) bytes of the virtual disk at off.
func readChunk(img *lib.Qcow2, buf []byte, off int64) error {
	n, err := img.ReadAt(buf, off)
	if n < len(buf) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read at %d: %w", off, err)
	}
	return nil
}
