package image

import (
	"fmt"
	"io"

	"github.com/byoi/byoi/initramfs/image/qcow2check"
)

// qcow2Disk reads the virtual disk of a validated qcow2 image at random
// offsets through its L1/L2 map: one L2 table and a few decoded compressed
// clusters (at most virtualCacheBytes) in memory. Virtual serves it to the
// kernel; pre-flight reads the partition table and the ESP through it. It
// is not safe for concurrent use; its errors are the raw causes, for the
// caller to classify.
type qcow2Disk struct {
	src   io.ReaderAt
	h     *qcow2check.Header
	size  int64
	m     *qcow2Map
	dec   *clusterDecoder
	cache []decoded // most recent first
	max   int
}

// decoded is one decompressed cluster.
type decoded struct {
	off  int64
	data []byte
}

// virtualCacheBytes bounds the decoded compressed clusters kept.
const virtualCacheBytes = 4 << 20

// newQcow2Disk reads the L1 table of h's image from src.
func newQcow2Disk(src io.ReaderAt, h *qcow2check.Header) (*qcow2Disk, error) {
	m, err := newQcow2Map(src, h)
	if err != nil {
		return nil, err
	}
	return &qcow2Disk{src: src, h: h, size: int64(h.Size), m: m,
		dec: newClusterDecoder(src, h.CompressionType == 1, h.ClusterSize()),
		max: max(1, int(virtualCacheBytes/h.ClusterSize()))}, nil
}

// ReadAt reads the virtual disk; reads past its end return io.EOF.
func (d *qcow2Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read virtual disk at %d: negative offset", off)
	}
	n := 0
	for n < len(p) {
		if off >= d.size {
			return n, io.EOF
		}
		c, err := d.cluster(p[n:], off)
		if err != nil {
			return n, err
		}
		n += c
		off += int64(c)
	}
	return n, nil
}

// cluster reads into p from off up to the end of off's cluster.
func (d *qcow2Disk) cluster(p []byte, off int64) (int, error) {
	cs := d.h.ClusterSize()
	base := off / cs * cs
	e, err := d.m.at(base)
	if err != nil {
		return 0, err
	}
	within := off - base
	n := int(min(int64(len(p)), e.n-within))
	switch e.kind {
	case extZero:
		clear(p[:n])
	case extData:
		if got, err := d.src.ReadAt(p[:n], e.host+within); got < n {
			return 0, fmt.Errorf("read data at %d (file offset %d): %w", off, e.host+within, orUnexpectedEOF(err))
		}
	case extCompressed:
		data, err := d.decompressed(e)
		if err != nil {
			return 0, err
		}
		copy(p[:n], data[within:])
	}
	return n, nil
}

// decompressed returns the decoded cluster of e, from the cache or decoded
// now (the cache keeps the most recent ones).
func (d *qcow2Disk) decompressed(e extent) ([]byte, error) {
	for i, c := range d.cache {
		if c.off == e.off {
			copy(d.cache[1:i+1], d.cache[:i])
			d.cache[0] = c
			return c.data, nil
		}
	}
	var buf []byte
	if len(d.cache) >= d.max {
		last := d.cache[len(d.cache)-1]
		buf = last.data[:cap(last.data)]
		d.cache = d.cache[:len(d.cache)-1]
	} else {
		buf = make([]byte, d.h.ClusterSize())
	}
	buf = buf[:e.n]
	if err := d.dec.fill(buf, e.off, []extent{e}); err != nil {
		return nil, err
	}
	d.cache = append([]decoded{{e.off, buf}}, d.cache...)
	return buf, nil
}

// Close releases the decoder.
func (d *qcow2Disk) Close() { d.dec.Close() }
