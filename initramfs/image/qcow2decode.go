package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/byoi/byoi/initramfs/image/inflate"
)

// qcow2ZstdWindow bounds the memory a zstd cluster may ask for: qemu
// compresses each cluster (at most 2 MiB) as one frame.
const qcow2ZstdWindow = 4 << 20

// clusterDecoder fills chunk buffers from the file: uncompressed runs with
// one read each, compressed clusters with one read per group of clusters
// stored next to each other, decoded by a decompressor kept for the whole
// conversion (one per worker; neither is safe for concurrent use): byoi's
// own inflate for zlib clusters (decoding whole clusters in place), the
// klauspost zstd decoder for zstd ones.
type clusterDecoder struct {
	src     io.ReaderAt
	zstd    bool // compression_type 1; 0 is raw deflate (zlib)
	scratch []byte
	rd      bytes.Reader
	inf     inflate.Decoder // zlib (raw deflate) clusters
	zd      *zstd.Decoder
}

func newClusterDecoder(src io.ReaderAt, zstdType bool, clusterSize int64) *clusterDecoder {
	return &clusterDecoder{src: src, zstd: zstdType, scratch: make([]byte, max(1<<20, 2*clusterSize))}
}

// Close releases the zstd decoder.
func (d *clusterDecoder) Close() {
	if d.zd != nil {
		d.zd.Close()
	}
}

// fill decodes the runs of a chunk into buf, which starts at virtual offset base.
func (d *clusterDecoder) fill(buf []byte, base int64, runs []extent) error {
	for i := 0; i < len(runs); {
		r := runs[i]
		if r.kind == extData {
			dst := buf[r.off-base : r.off-base+r.n]
			if n, err := d.src.ReadAt(dst, r.host); n < len(dst) {
				return fmt.Errorf("read data at %d (file offset %d): %w", r.off, r.host, orUnexpectedEOF(err))
			}
			i++
			continue
		}
		j, start, end := d.group(runs, i)
		n, err := d.src.ReadAt(d.scratch[:end-start], start)
		if n < int(end-start) && !errors.Is(err, io.EOF) { // the last cluster may end past EOF
			return fmt.Errorf("read compressed clusters at file offset %d: %w", start, orUnexpectedEOF(err))
		}
		got := d.scratch[:n]
		for ; i < j; i++ {
			r := runs[i]
			lo, hi := r.host-start, min(r.host-start+r.clen, int64(len(got)))
			if lo >= hi {
				return fmt.Errorf("compressed cluster at %d (file offset %d): %w", r.off, r.host, io.ErrUnexpectedEOF)
			}
			if err := d.decode(buf[r.off-base:r.off-base+r.n], got[lo:hi]); err != nil {
				return fmt.Errorf("decompress cluster at %d (file offset %d): %w", r.off, r.host, err)
			}
		}
	}
	return nil
}

// group returns the end j of the compressed runs from i that one read of
// file bytes [start, end) can serve: each starts after the previous one
// began and at most one sector after it ended, and all fit in scratch.
func (d *clusterDecoder) group(runs []extent, i int) (j int, start, end int64) {
	start, end = runs[i].host, runs[i].host+runs[i].clen
	for j = i + 1; j < len(runs); j++ {
		r := runs[j]
		if r.kind != extCompressed || r.host < runs[j-1].host || r.host > end+512 ||
			max(end, r.host+r.clen)-start > int64(len(d.scratch)) {
			break
		}
		end = max(end, r.host+r.clen)
	}
	return j, start, end
}

// decode decompresses src into exactly len(dst) bytes.
func (d *clusterDecoder) decode(dst, src []byte) error {
	if !d.zstd {
		return d.inf.Decode(dst, src)
	}
	d.rd.Reset(src)
	var r io.Reader
	{
		if d.zd == nil {
			zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(qcow2ZstdWindow))
			if err != nil {
				return fmt.Errorf("zstd decoder: %w", err)
			}
			d.zd = zd
		}
		if err := d.zd.Reset(&d.rd); err != nil {
			return err
		}
		r = d.zd
	}
	if _, err := io.ReadFull(r, dst); err != nil {
		return orUnexpectedEOF(err)
	}
	return nil
}
