package image

import (
	"bufio"
	"errors"
	"io"

	"github.com/byoi/byoi/boot"
)

var errEOF = io.EOF

// writeChunk is the size of the writes issued for streamed images.
const writeChunk = 1 << 20

// raw streams a raw image, possibly gzip/xz/zstd compressed, to the target.
func (in *installer) raw(head []byte) (*sparseWriter, error) {
	kind := in.res.Compression
	size := in.src.Size()
	dec, err := decompress(kind, in.src.sequential(0))
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
		return nil, &Error{Kind: KindCompressedQcow2, Step: boot.StepCheck, Compression: kind}
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
	in.checked(max(virtual, 0))
	w := newSparseWriter(in.t, in.o.Type, func(done int64) {
		in.prog.report(boot.StepWrite, done, virtual)
	})
	off, err := in.copyStream(w, br, kind)
	if err != nil {
		return w, err
	}
	if err := w.finish(); err != nil {
		return w, err
	}
	in.res.VirtualSize = off
	in.prog.report(boot.StepWrite, off, off)
	return w, nil
}

// copyStream writes the decoded stream in aligned chunks and returns its
// size. It never reads more than one byte past the end of the target: a
// stream longer than the target (a decompression bomb, or a raw file
// served without a length) fails there, as "at least size+1 bytes".
func (in *installer) copyStream(w *sparseWriter, r *bufio.Reader, kind string) (int64, error) {
	buf := alignedBuf(writeChunk)
	limit := in.t.Size()
	var off int64
	for {
		n, err := fill(r, buf[:min(int64(len(buf)), limit-off+1)])
		if off+int64(n) > limit {
			return off, sizeError(off+int64(n), true, in.t)
		}
		if err == nil {
			// Decode ahead of the write: a stream that ends badly right
			// after this piece (gzip trailing garbage, a bad xz index or
			// check) is refused before the image's last piece is written.
			if _, perr := r.Peek(1); perr != io.EOF {
				err = perr
			}
		}
		if err != nil && err != io.EOF {
			return off, in.readError(kind, err)
		}
		if n > 0 {
			if werr := w.writeAt(buf[:n], off); werr != nil {
				return off, werr
			}
			off += int64(n)
		}
		if err == io.EOF {
			return off, nil
		}
		if in.ctx.Err() != nil {
			return off, in.ctx.Err()
		}
	}
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
