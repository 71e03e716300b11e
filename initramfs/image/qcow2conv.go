package image

import (
	"context"
	"io"
	"sync"

	"github.com/byoi/byoi/initramfs/image/qcow2check"
)

// qcow2Workers decode qcow2 data in parallel; qcow2Bufs chunk buffers of
// qcow2Chunk bytes (or one cluster, if larger) exist in all (decoding,
// decoded and waiting for the writer, being written), which bounds both
// memory and how far the reads run ahead of the write position (well inside
// the block cache).
const (
	qcow2Workers = 2
	qcow2Bufs    = qcow2Workers + 2
	qcow2Chunk   = 1 << 20
)

// chunk is one piece of the virtual disk on its way to the writer: a zero
// extent, or data decoded by a worker into buf from the runs of buf.
type chunk struct {
	off, n int64
	zero   bool
	buf    *chunkBuf
	err    error
	done   chan struct{} // closed when buf holds the data (or err is set)
	// Data chunks take turns at reading the file: turn is closed when the
	// previous data chunk has issued its reads, next when this one has.
	turn, next chan struct{}
}

// chunkBuf is a chunk's memory and the runs (data and compressed) it holds.
type chunkBuf struct {
	data []byte
	runs []extent
}

// convert walks the runs of the image in guest order and writes them: a
// producer groups data runs into chunks that qcow2Workers goroutines decode
// concurrently, and this goroutine writes the chunks in disk order, so the
// sparse writer sees the same sequence as a serial conversion. The workers
// take turns at reading: a chunk's reads are issued only after the previous
// chunk's have returned, so the file is read in order (over HTTP, one
// sequential stream, no block fetched behind it or cached ahead of a read)
// while the decoding of one chunk overlaps the reading of the next. The
// producer reads too, the L2 tables, and waits for every chunk before a
// table to be read before it loads the table: a table follows the data
// before it in the file, and reading it early would push the stream past
// that data (with 4 KiB clusters a table maps 2 MiB; four buffers ahead,
// the block cache could drop a block before its worker read it). It
// returns after every goroutine it started has ended.
func (in *installer) convert(h *qcow2check.Header, w *sparseWriter) error {
	m, err := newQcow2Map(in.src, h)
	if err != nil {
		return in.qcow2Error(err)
	}
	ctx, cancel := context.WithCancel(in.ctx)
	defer cancel()
	size := max(qcow2Chunk, h.ClusterSize())
	order := make(chan *chunk, qcow2Bufs)
	work := make(chan *chunk, qcow2Bufs)
	free := make(chan *chunkBuf, qcow2Bufs)
	for range qcow2Bufs {
		free <- &chunkBuf{data: alignedBuf(int(size))}
	}
	var wg sync.WaitGroup
	wg.Go(func() { produce(ctx, m, size, order, work, free) })
	for range qcow2Workers {
		wg.Go(func() {
			d := newClusterDecoder(in.src, h.CompressionType == 1, h.ClusterSize())
			defer d.Close()
			for c := range work {
				<-c.turn
				c.err = d.read(c.buf.data[:c.n], c.off, c.buf.runs)
				close(c.next)
				if c.err == nil {
					c.err = d.decode(c.buf.data[:c.n], c.off, c.buf.runs)
				}
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
func (in *installer) consume(order <-chan *chunk, free chan<- *chunkBuf, w *sparseWriter) (err error, decode bool) {
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
		b := c.buf
		if err := w.writeAt(b.data[:c.n], c.off, func() { free <- b }); err != nil {
			return err, false
		}
	}
	return in.ctx.Err(), false
}

// produce sends every run of m to order, in disk order, zero runs as they
// are and data runs packed into chunks of size bytes, which also go to
// work; it closes both channels when done or cancelled.
func produce(ctx context.Context, m *qcow2Map, size int64, order, work chan<- *chunk, free <-chan *chunkBuf) {
	defer close(order)
	defer close(work)
	turn := make(chan struct{}) // the first data chunk's turn
	close(turn)
	send := func(c *chunk) bool {
		select {
		case order <- c:
		case <-ctx.Done():
			return false
		}
		if !c.zero && c.err == nil {
			c.turn, c.next = turn, make(chan struct{})
			turn = c.next
			work <- c // work has room for every buffer: never blocks for long
		}
		return true
	}
	var cur *chunk // data chunk being filled
	flush := func() bool {
		c := cur
		cur = nil
		return c == nil || send(c)
	}
	for ctx.Err() == nil {
		if m.loads() {
			// The table's read would pass the data of the chunks before
			// it (it follows them in the file): send the chunk being
			// filled and wait until every chunk's reads are done, so the
			// stream never runs ahead of a read.
			if !flush() {
				return
			}
			select {
			case <-turn:
			case <-ctx.Done():
				return
			}
		}
		r, err := m.next()
		if err == io.EOF {
			flush()
			return
		}
		if err != nil {
			if flush() {
				c := &chunk{off: m.pos, err: err, done: make(chan struct{})}
				close(c.done)
				send(c)
			}
			return
		}
		if r.kind == extZero {
			if !flush() {
				return
			}
			c := &chunk{off: r.off, n: r.n, zero: true, done: make(chan struct{})}
			close(c.done)
			if !send(c) {
				return
			}
			continue
		}
		for r.n > 0 {
			if cur == nil {
				select {
				case b := <-free:
					b.runs = b.runs[:0]
					cur = &chunk{off: r.off, buf: b, done: make(chan struct{})}
				case <-ctx.Done():
					return
				}
			}
			// Chunks start on cluster boundaries and hold a whole number of
			// clusters, so a compressed cluster always fits in one.
			take := min(size-cur.n, r.n)
			part := r
			part.n = take
			cur.buf.runs = append(cur.buf.runs, part)
			cur.n += take
			r.off += take
			r.n -= take
			if r.kind == extData {
				r.host += take
			}
			if cur.n == size && !flush() {
				return
			}
		}
	}
}
