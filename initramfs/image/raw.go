package image

import (
	"bufio"
	"context"
	"errors"
	"io"
	"sync"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/image/lzma2"
)

var errEOF = io.EOF

// writeChunk is the size of the writes issued for streamed images.
const writeChunk = 1 << 20

// raw streams a raw image, possibly gzip/xz/zstd compressed, to the target.
func (in *installer) raw(head []byte) (*sparseWriter, error) {
	kind := in.res.Compression
	size := in.src.Size()
	// A target that can be read back serves the decoder's older bytes.
	var rb *readBack
	var hist lzma2.History
	if ra, ok := in.t.(io.ReaderAt); ok && kind == "xz" {
		rb = newReadBack(ra)
		defer rb.close()
		hist = rb
	}
	var stream io.Reader = in.src.sequential(0)
	// gzip and zstd decode in the caller's Read: the download gets its own
	// goroutine. (xz's reader parses and reads on its own goroutine.)
	if kind == "gzip" || kind == "zstd" {
		ra := newReadAhead(stream)
		defer ra.Close()
		stream = ra
	}
	dec, err := decompress(kind, stream, in.o.DecodeThreads, hist)
	if err != nil {
		if kind != "" && in.o.Type == "qcow2" {
			return nil, mismatchError("raw", in.o.Type)
		}
		return nil, corruptError(kind, err)
	}
	defer dec.Close()
	br := bufio.NewReaderSize(dec, sniffSize)
	peek, err := br.Peek(sniffSize)
	if err != nil && !isEOF(err) {
		return nil, in.readError(kind, err)
	}
	if kind == "" {
		peek = head
	}
	if kind != "" && isQcow2(peek) {
		return nil, &Error{Kind: KindCompressedQcow2, Step: boot.StepPreflight, Compression: kind}
	}
	if in.o.Type != "raw" {
		return nil, mismatchError("raw", in.o.Type)
	}
	if !hasPartitionTable(peek) {
		return nil, noPartitionError(describe(peek, kind))
	}
	virtual := int64(-1)
	if kind == "" {
		virtual = size
	}
	if virtual > in.t.Size() {
		return nil, sizeError(virtual, false, in.t)
	}
	hr := &headReader{r: br, limit: in.o.PreflightHead}
	if kind == "" {
		hr.far = in.src.rangeAt
	}
	if rb != nil {
		hr.onGrow = rb.setHead
	}
	if err := in.preflight(hr, max(virtual, 0), peek, func(err error) error { return in.readError(kind, err) }); err != nil {
		return nil, err
	}
	if hr.eof && virtual < 0 { // the whole stream fitted in the head
		virtual = int64(len(hr.buf))
		if virtual > in.t.Size() {
			return nil, sizeError(virtual, false, in.t)
		}
	}
	in.checked(max(virtual, 0))
	w := newSparseWriter(in.t, in.o.Type, func(done int64) {
		in.prog.report(boot.StepWrite, done, virtual)
	})
	w.rb = rb
	w.overlap()
	off, err := in.copyStream(w, hr, kind)
	if err != nil {
		return w, w.settle(err)
	}
	if err := w.finish(); err != nil {
		return w, err
	}
	in.res.VirtualSize = off
	in.prog.report(boot.StepWrite, off, off)
	return w, nil
}

// peekReader is the decoded stream as the write reads it: a bufio.Reader,
// or the headReader holding what pre-flight read.
type peekReader interface {
	io.Reader
	Peek(n int) ([]byte, error)
}

// rawBufs write buffers of writeChunk bytes exist for a raw stream: one
// being filled, one being written and one in between (or, on a direct
// target, two being written).
const rawBufs = 3

// piece is a chunk of the decoded stream on its way to the writer, or the
// error that ended the stream.
type piece struct {
	buf []byte
	off int64
	err error
}

// copyStream writes the decoded stream in aligned chunks and returns its
// size. A goroutine decodes (or, uncompressed, receives) the stream into
// chunks while this one writes them, so the two overlap; an uncompressed
// stream onto a target written through the page cache is received and
// written on this goroutine (see copySync). It never reads more than one
// byte past the end of the target: a stream longer than the target (a
// decompression bomb, or a raw file served without a length) fails there,
// as "at least size+1 bytes".
func (in *installer) copyStream(w *sparseWriter, r peekReader, kind string) (int64, error) {
	if kind == "" && w.slots == nil {
		return in.copySync(w, r)
	}
	ctx, cancel := context.WithCancel(in.ctx)
	free := make(chan []byte, rawBufs)
	full := make(chan piece, rawBufs)
	for range rawBufs {
		free <- alignedBuf(writeChunk)
	}
	var wg sync.WaitGroup
	wg.Go(func() { in.decodeChunks(ctx, r, kind, free, full) })
	defer wg.Wait()
	defer cancel()
	var off int64
	for p := range full {
		if p.err != nil {
			return off, p.err
		}
		buf := p.buf[:cap(p.buf)]
		if err := w.writeAt(p.buf, p.off, func() { free <- buf }); err != nil {
			return off, err
		}
		off = p.off + int64(len(p.buf))
	}
	return off, in.ctx.Err()
}

// copySync is copyStream on one goroutine, for an uncompressed stream onto
// a target whose writes are memory copies into the page cache: there a
// second goroutine only adds hand-offs between threads that share the
// cores with the image server (1 GiB raw onto tmpfs over loopback, see
// docs/performance.md). A write that waits for a device (O_DIRECT) keeps
// the hand-off, so that the download goes on meanwhile.
func (in *installer) copySync(w *sparseWriter, r peekReader) (int64, error) {
	buf := alignedBuf(writeChunk)
	var off int64
	for {
		if err := in.ctx.Err(); err != nil {
			return off, err
		}
		p, last := in.readPiece(r, "", buf, off)
		if p.err != nil {
			return off, p.err
		}
		if err := w.writeAt(p.buf, p.off, nil); err != nil {
			return off, err
		}
		off += int64(len(p.buf))
		if last {
			return off, nil
		}
	}
}

// decodeChunks reads r into buffers from free and sends them to full, in
// order, ending with an error piece if the stream fails; it closes full.
func (in *installer) decodeChunks(ctx context.Context, r peekReader, kind string, free chan []byte, full chan<- piece) {
	defer close(full)
	var off int64
	for {
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil {
			return
		}
		p, last := in.readPiece(r, kind, buf, off)
		if p.err != nil || len(p.buf) > 0 {
			full <- p // full has room for every buffer: never blocks
			off += int64(len(p.buf))
		}
		if last {
			return
		}
	}
}

// readPiece fills buf with the stream at off. It returns the piece (an
// error piece if the stream failed or ran past the end of the target) and
// whether it is the stream's last.
func (in *installer) readPiece(r peekReader, kind string, buf []byte, off int64) (p piece, last bool) {
	limit := in.t.Size()
	n, err := fill(r, buf[:min(int64(len(buf)), limit-off+1)])
	if err == nil && off+int64(n) <= limit {
		// Decode ahead of the write: a stream that ends badly right
		// after this piece (gzip trailing garbage, a bad xz index or
		// check) is refused before the image's last piece is written.
		if _, perr := r.Peek(1); perr != io.EOF {
			err = perr
		}
	}
	switch {
	case off+int64(n) > limit:
		return piece{err: sizeError(off+int64(n), true, in.t)}, true
	case err != nil && err != io.EOF:
		return piece{err: in.readError(kind, err)}, true
	}
	return piece{buf: buf[:n], off: off}, err == io.EOF
}

// readError classifies a failure of the download/decode stream.
func (in *installer) readError(kind string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if in.src.failure() != nil { // the network, not the data
		return downloadError(in.src.failure())
	}
	if kind != "" {
		return corruptError(kind, err)
	}
	return downloadError(err)
}

// fill reads until buf is full or r fails; io.EOF (only) means the end.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
