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

// clusterDecoder fills chunk buffers from the file in two steps: read
// issues the chunk's file reads in run order (uncompressed runs straight
// into the chunk, one read each; compressed clusters into scratch, one read
// per group of clusters stored next to each other) and decode then
// decompresses the clusters, with a decompressor kept for the whole
// conversion (one per worker; neither is safe for concurrent use): byoi's
// own inflate for zlib clusters (decoding whole clusters in place), the
// klauspost zstd decoder for zstd ones. Keeping the two apart lets the
// workers take turns at reading, so the file is read front to back, while
// they decode in parallel.
type clusterDecoder struct {
	src      io.ReaderAt
	zstd     bool  // compression_type 1; 0 is raw deflate (zlib)
	maxGroup int64 // the longest read of compressed clusters
	scratch  []byte
	groups   []cgroup // the compressed reads of the chunk being filled
	rd       bytes.Reader
	inf      inflate.Decoder // zlib (raw deflate) clusters
	zd       *zstd.Decoder
}

// cgroup is one read of compressed clusters: runs[i:j] are in the n file
// bytes from start, held at scratch[at:].
type cgroup struct {
	i, j  int
	start int64
	at, n int
}

// newClusterDecoder allocates the scratch of one read of compressed
// clusters; read grows it for a chunk that needs several. The format bounds
// it: a compressed cluster takes at most two clusters of the file, so the
// groups of a chunk take at most 2*chunk + 512 bytes a cluster.
func newClusterDecoder(src io.ReaderAt, zstdType bool, clusterSize int64) *clusterDecoder {
	g := max(1<<20, 2*clusterSize)
	return &clusterDecoder{src: src, zstd: zstdType, maxGroup: g, scratch: make([]byte, g)}
}

// Close releases the zstd decoder.
func (d *clusterDecoder) Close() {
	if d.zd != nil {
		d.zd.Close()
	}
}

// fill reads and decodes the runs of a chunk into buf, which starts at
// virtual offset base.
func (d *clusterDecoder) fill(buf []byte, base int64, runs []extent) error {
	if err := d.read(buf, base, runs); err != nil {
		return err
	}
	return d.decode(buf, base, runs)
}

// read issues every file read of runs, in their order: uncompressed runs
// into buf, compressed clusters into scratch, for decode.
func (d *clusterDecoder) read(buf []byte, base int64, runs []extent) error {
	d.groups = d.groups[:0]
	used := 0
	for i := 0; i < len(runs); {
		r := runs[i]
		if r.kind == extData {
			dst := buf[r.off-base : r.off-base+r.n]
			if n, err := d.readRun(dst, r.host); n < len(dst) {
				return fmt.Errorf("read data at %d (file offset %d): %w", r.off, r.host, orUnexpectedEOF(err))
			}
			i++
			continue
		}
		j, start, end := d.group(runs, i)
		if need := used + int(end-start); need > len(d.scratch) {
			s := make([]byte, need)
			copy(s, d.scratch[:used])
			d.scratch = s
		}
		n, err := d.src.ReadAt(d.scratch[used:used+int(end-start)], start)
		if n < int(end-start) && !errors.Is(err, io.EOF) { // the last cluster may end past EOF
			return fmt.Errorf("read compressed clusters at file offset %d: %w", start, orUnexpectedEOF(err))
		}
		d.groups = append(d.groups, cgroup{i: i, j: j, start: start, at: used, n: n})
		used += n
		i = j
	}
	return nil
}

// runReader is a source with a read for uncompressed runs (remote's):
// nothing that starts before their end is read after them, so the source
// need not keep their last block for the next read.
type runReader interface {
	readRun(p []byte, off int64) (int, error)
}

// readRun reads an uncompressed run at file offset off.
func (d *clusterDecoder) readRun(p []byte, off int64) (int, error) {
	if rr, ok := d.src.(runReader); ok {
		return rr.readRun(p, off)
	}
	return d.src.ReadAt(p, off)
}

// decode decompresses the compressed clusters read by the last read.
func (d *clusterDecoder) decode(buf []byte, base int64, runs []extent) error {
	for _, g := range d.groups {
		got := d.scratch[g.at : g.at+g.n]
		for _, r := range runs[g.i:g.j] {
			lo, hi := r.host-g.start, min(r.host-g.start+r.clen, int64(len(got)))
			if lo >= hi {
				return fmt.Errorf("compressed cluster at %d (file offset %d): %w", r.off, r.host, io.ErrUnexpectedEOF)
			}
			if err := d.cluster(buf[r.off-base:r.off-base+r.n], got[lo:hi]); err != nil {
				return fmt.Errorf("decompress cluster at %d (file offset %d): %w", r.off, r.host, err)
			}
		}
	}
	return nil
}

// group returns the end j of the compressed runs from i that one read of
// file bytes [start, end) can serve: each starts after the previous one
// began and at most one sector after it ended, and all fit in maxGroup.
func (d *clusterDecoder) group(runs []extent, i int) (j int, start, end int64) {
	start, end = runs[i].host, runs[i].host+runs[i].clen
	for j = i + 1; j < len(runs); j++ {
		r := runs[j]
		if r.kind != extCompressed || r.host < runs[j-1].host || r.host > end+512 ||
			max(end, r.host+r.clen)-start > d.maxGroup {
			break
		}
		end = max(end, r.host+r.clen)
	}
	return j, start, end
}

// cluster decompresses src into exactly len(dst) bytes.
func (d *clusterDecoder) cluster(dst, src []byte) error {
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
