package image

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/byoi/byoi/initramfs/image/qcow2check"
)

// extentKind says how a run of the virtual disk is stored in a qcow2 file.
type extentKind uint8

const (
	extZero       extentKind = iota // unallocated or marked zero: reads as zeros
	extData                         // uncompressed clusters, contiguous in the file
	extCompressed                   // one compressed cluster
)

// maxRun caps merged zero and data runs, so the producer checks for
// cancellation at least every maxRun bytes of virtual disk.
const maxRun = 64 << 20

// extent is a range [off, off+n) of the virtual disk and where its bytes are:
// for extData at host..host+n in the file; for extCompressed a compressed
// stream of clen bytes at host that decodes to the cluster starting at off.
type extent struct {
	off, n int64
	kind   extentKind
	host   int64
	clen   int64
}

// qcow2Map walks the L1 and L2 tables of an image validated by qcow2check,
// in guest order, and returns the disk as runs: adjacent zero clusters and
// data clusters that are also adjacent in the file are merged. It holds the
// L1 table and one L2 table (one cluster) at a time; every L2 table is
// checked with CheckL2 before any of its entries is used.
type qcow2Map struct {
	src     io.ReaderAt
	h       *qcow2check.Header
	virtual int64
	cs      int64 // cluster size
	span    int64 // virtual bytes one L1 entry maps
	l1      []uint64
	table   []byte // the loaded L2 table
	loaded  int64  // index of the L1 entry whose table is loaded, -1 none
	pos     int64  // next virtual offset to map
}

// Masks of the qcow2 table entries (qcow2 specification).
const (
	offsetMask     = 0x00fffffffffffe00 // L1 and standard L2 entries: host offset
	flagCompressed = 1 << 62
	flagZero       = 1 // standard L2 entry: the cluster reads as zeros
)

func newQcow2Map(src io.ReaderAt, h *qcow2check.Header) (*qcow2Map, error) {
	m := &qcow2Map{src: src, h: h, virtual: int64(h.Size), cs: h.ClusterSize(), span: h.L1Span(), loaded: -1}
	raw := make([]byte, int64(h.L1Size)*8)
	if n, err := src.ReadAt(raw, int64(h.L1TableOffset)); n < len(raw) {
		return nil, fmt.Errorf("read L1 table: %w", orUnexpectedEOF(err))
	}
	m.l1 = make([]uint64, h.L1Size)
	for i := range m.l1 {
		m.l1[i] = binary.BigEndian.Uint64(raw[i*8:]) & offsetMask
	}
	m.table = make([]byte, m.cs)
	return m, nil
}

// next returns the next run in guest order, io.EOF after the last one.
func (m *qcow2Map) next() (extent, error) {
	var cur extent
	have := false
	for m.pos < m.virtual {
		// A run ends at maxRun and where another L2 table starts: looking
		// past either would load that table now, far ahead of the data
		// being read, and the stream would pass that data before it is
		// read (a re-fetch of up to maxRun).
		if have && (cur.n >= maxRun || m.pos%m.span == 0) {
			return cur, nil
		}
		r, err := m.at(m.pos)
		if err != nil {
			return extent{}, err
		}
		switch {
		case !have:
			cur, have = r, true
		case r.kind == extZero && cur.kind == extZero,
			r.kind == extData && cur.kind == extData && cur.host+cur.n == r.host:
			cur.n += r.n
		default:
			return cur, nil
		}
		m.pos += r.n
	}
	if !have {
		return extent{}, io.EOF
	}
	return cur, nil
}

// loads says whether the next call of next reads an L2 table.
func (m *qcow2Map) loads() bool {
	if m.pos >= m.virtual {
		return false
	}
	i := m.pos / m.span
	return i < int64(len(m.l1)) && m.l1[i] != 0 && m.loaded != i
}

// at returns the run of the cluster at off (cluster-aligned), or of the
// whole L1 span when it has no L2 table, clipped to the virtual size.
func (m *qcow2Map) at(off int64) (extent, error) {
	i := off / m.span
	if i >= int64(len(m.l1)) {
		return extent{}, fmt.Errorf("offset %d beyond the L1 table", off)
	}
	if m.l1[i] == 0 {
		end := min((i+1)*m.span, m.virtual)
		return extent{off: off, n: end - off, kind: extZero}, nil
	}
	if m.loaded != i {
		if err := m.load(i); err != nil {
			return extent{}, err
		}
	}
	j := (off % m.span) / m.cs
	e := binary.BigEndian.Uint64(m.table[j*8:])
	r := extent{off: off, n: min(m.cs, m.virtual-off)}
	switch {
	case e&flagCompressed != 0:
		x := 62 - (m.h.ClusterBits - 8) // offset bits; the sector count above
		desc := e &^ (3 << 62)
		r.kind = extCompressed
		r.host = int64(desc & (1<<x - 1))
		r.clen = int64(desc>>x+1)*512 - r.host&511
	case e&flagZero != 0 || e&offsetMask == 0:
		r.kind = extZero
	default:
		r.kind = extData
		r.host = int64(e & offsetMask)
	}
	return r, nil
}

// load reads and checks the L2 table of L1 entry i.
func (m *qcow2Map) load(i int64) error {
	m.loaded = -1
	if !m.h.IsL2(int64(m.l1[i]), int(m.cs)) { // the L1 entry qcow2check validated
		return fmt.Errorf("L1 entry %d: L2 table at %d was not validated", i, m.l1[i])
	}
	if n, err := m.src.ReadAt(m.table, int64(m.l1[i])); int64(n) < m.cs {
		return fmt.Errorf("read L2 table at %d: %w", m.l1[i], orUnexpectedEOF(err))
	}
	if err := m.h.CheckL2(m.table); err != nil {
		return err
	}
	m.loaded = i
	return nil
}

func orUnexpectedEOF(err error) error {
	if err == nil || err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
