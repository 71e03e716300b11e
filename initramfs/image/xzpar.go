package image

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/byoi/byoi/initramfs/image/lzma2"
)

// xzBudget bounds the memory of blocks decoded in parallel: compressed
// bytes read ahead, dictionaries and decoded bytes not yet read, together.
// A block needing more than half of it is decoded sequentially instead.
// xz -T (liblzma's default block of 3× the dictionary) at presets 0 to 2
// fits: an xz -1 block is 3 MiB of data (also its dictionary: a block is
// decoded in place) and about 1.2 MiB compressed, so three blocks are in
// flight, two decoding and one being read; an xz -2 block (6 MiB) still
// fits half of it.
const xzBudget = 18 << 20

// parallel reports whether b is decoded on a worker: its header gives both
// sizes (as xz -T writes them) and it fits the budget.
func (x *xzReader) parallel(b *xzBlock) bool {
	return x.workers > 1 && b.compressed >= 0 && b.uncompressed >= 0 &&
		b.compressed <= xzBudget && b.uncompressed <= xzBudget && b.memory() <= xzBudget/2
}

// blockAsync reads b's compressed bytes, queues its piece for Read and
// starts a worker that decodes it. The budget tokens taken here are given
// back by Read once the piece is consumed, with its buffers.
func (x *xzReader) blockAsync(b *xzBlock) error {
	tokens := int((b.memory() + 1<<20 - 1) >> 20)
	for range tokens {
		select {
		case x.budget <- struct{}{}:
		case <-x.done:
			return errXZClosed
		}
	}
	in := x.bufs.get(int(b.compressed + b.tail()))
	if err := x.src.full(in); err != nil {
		x.bufs.put(in)
		return err
	}
	out := x.bufs.get(int(max(b.uncompressed, lzma2.MinDict)))
	pc := &xzPiece{done: make(chan struct{}), tokens: tokens, in: in, out: out}
	if !x.emit(pc) {
		return errXZClosed
	}
	select {
	case x.sem <- struct{}{}:
	case <-x.done:
		pc.err = errXZClosed
		close(pc.done)
		return errXZClosed
	}
	x.async++
	go func() {
		defer func() { <-x.sem }()
		var dec *lzma2.Reader
		select {
		case dec = <-x.decs:
		default:
			dec = new(lzma2.Reader)
		}
		pc.buf, pc.err = decodeBlock(b, in, out, dec)
		x.decs <- dec // room for one per worker
		if pc.err != nil {
			pc.err = fmt.Errorf("%s: %w", b.pos, pc.err)
		}
		close(pc.done)
	}()
	return nil
}

// decodeBlock decodes a whole block whose header gave both sizes: in is its
// LZMA2 data, padding and check; the data is decoded in place into out
// (at least the block's size), which is also the dictionary.
func decodeBlock(b *xzBlock, in, out []byte, dec *lzma2.Reader) ([]byte, error) {
	data, tail := in[:b.compressed], in[b.compressed:]
	r := bytes.NewReader(data)
	src := &xzSource{} // no stream: lzmaError only classifies errors
	if err := dec.ResetInto(r, out, b.dictCap()); err != nil {
		return nil, src.lzmaError(err)
	}
	var n int64
	for {
		p, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, src.lzmaError(err)
		}
		if int64(len(p)) > b.uncompressed-n {
			return nil, fmt.Errorf("more data than the header's uncompressed size: %w", errXZCorrupt)
		}
		n += int64(len(p))
	}
	if n != b.uncompressed {
		return nil, fmt.Errorf("less data than the header's uncompressed size: %w", errXZCorrupt)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("compressed size differs from the header: %w", errXZCorrupt)
	}
	sum := newXZCheck(b.check)
	sum.Write(out[:n])
	if err := checkTail(b, tail, sum); err != nil {
		return nil, err
	}
	return out[:n], nil
}

// bufPool keeps a few buffers of blocks decoded in parallel for reuse: a
// file compressed by xz -T has blocks of one size, so after the first ones
// nothing is allocated.
type bufPool struct {
	mu   sync.Mutex
	free [][]byte
}

// bufPoolKeep is how many free buffers a pool keeps: those of one block.
const bufPoolKeep = 2

// get returns a buffer of n bytes.
func (p *bufPool) get(n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.free {
		if cap(b) >= n {
			p.free = append(p.free[:i], p.free[i+1:]...)
			return b[:n]
		}
	}
	return make([]byte, n)
}

// put gives a buffer back; the smallest is dropped when the pool is full.
func (p *bufPool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, b)
	if len(p.free) > bufPoolKeep {
		small := 0
		for i, f := range p.free {
			if cap(f) < cap(p.free[small]) {
				small = i
			}
		}
		p.free = append(p.free[:small], p.free[small+1:]...)
	}
}
