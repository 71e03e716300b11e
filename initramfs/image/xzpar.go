package image

import (
	"bytes"
	"fmt"
	"io"

	"github.com/byoi/byoi/initramfs/image/lzma2"
)

// xzBudget bounds the memory of blocks decoded in parallel: compressed
// bytes read ahead, dictionaries and decoded bytes not yet read, together.
// A block needing more than half of it is decoded sequentially instead.
// xz -T (liblzma's default block of 3× the dictionary) at presets 0 to 2
// fits: an xz -1 block is 3 MiB of data, about 1.2 MiB compressed and a
// 1 MiB dictionary.
const xzBudget = 24 << 20

// parallel reports whether b is decoded on a worker: its header gives both
// sizes (as xz -T writes them) and it fits the budget.
func (x *xzReader) parallel(b *xzBlock) bool {
	return x.workers > 1 && b.compressed >= 0 && b.uncompressed >= 0 &&
		b.compressed <= xzBudget && b.uncompressed <= xzBudget && b.memory() <= xzBudget/2
}

// blockAsync reads b's compressed bytes, queues its piece for Read and
// starts a worker that decodes it. The budget tokens taken here are given
// back by Read once the piece is consumed.
func (x *xzReader) blockAsync(b *xzBlock) error {
	tokens := int((b.memory() + 1<<20 - 1) >> 20)
	for range tokens {
		select {
		case x.budget <- struct{}{}:
		case <-x.done:
			return errXZClosed
		}
	}
	in := make([]byte, b.compressed+b.tail())
	if err := x.src.full(in); err != nil {
		return err
	}
	pc := &xzPiece{done: make(chan struct{}), tokens: tokens}
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
		pc.buf, pc.err = decodeBlock(b, in)
		if pc.err != nil {
			pc.err = fmt.Errorf("%s: %w", b.pos, pc.err)
		}
		close(pc.done)
	}()
	return nil
}

// decodeBlock decodes a whole block whose header gave both sizes: in is its
// LZMA2 data, padding and check.
func decodeBlock(b *xzBlock, in []byte) ([]byte, error) {
	data, tail := in[:b.compressed], in[b.compressed:]
	r := bytes.NewReader(data)
	src := &xzSource{} // no stream: lzmaError only classifies errors
	dec, err := lzma2.NewReader(r, b.dictCap())
	if err != nil {
		return nil, src.lzmaError(err)
	}
	out := make([]byte, 0, b.uncompressed)
	for {
		p, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, src.lzmaError(err)
		}
		if int64(len(p)) > b.uncompressed-int64(len(out)) {
			return nil, fmt.Errorf("more data than the header's uncompressed size: %w", errXZCorrupt)
		}
		out = append(out, p...)
	}
	if int64(len(out)) != b.uncompressed {
		return nil, fmt.Errorf("less data than the header's uncompressed size: %w", errXZCorrupt)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("compressed size differs from the header: %w", errXZCorrupt)
	}
	sum := newXZCheck(b.check)
	sum.Write(out)
	if err := checkTail(b, tail, sum); err != nil {
		return nil, err
	}
	return out, nil
}
