package qcow2check

import "encoding/binary"

// IsL2 reports whether a read of n bytes at off is exactly one of the L2
// tables named by the L1 table (that is how go-qcow2reader loads them).
func (h *Header) IsL2(off int64, n int) bool {
	return off >= 0 && int64(n) == h.ClusterSize() && h.l2[uint64(off)]
}

// CheckL2 validates one L2 table (one cluster of big-endian entries): reserved
// bits clear, data clusters aligned, inside the file and not on top of the
// header, the L1 table or any L2 table (which would make metadata loop into
// data). Its cost is one pass over the table, without allocation.
func (h *Header) CheckL2(table []byte) error {
	cs := uint64(h.ClusterSize())
	l1Start := h.L1TableOffset
	l1End := l1Start + uint64(h.L1Size)*8
	x := 62 - (h.ClusterBits - 8) // compressed descriptor: offset bits below x
	for i := 0; i+8 <= len(table); i += 8 {
		e := binary.BigEndian.Uint64(table[i:])
		if e == 0 {
			continue
		}
		var off, end uint64
		if e&(1<<62) != 0 { // compressed cluster
			desc := e &^ (3 << 62)
			off = desc & (1<<x - 1)
			sectors := desc >> x
			end = off&^511 + (sectors+1)*512
			if off < cs {
				return invalid("L2 entry %d: compressed cluster at %d overlaps the header", i/8, off)
			}
		} else {
			if e&0x3f000000000001fe != 0 {
				return invalid("L2 entry %d has reserved bits set (0x%x)", i/8, e)
			}
			off = e & 0x00fffffffffffe00
			if off == 0 { // unallocated or reads as zeros
				continue
			}
			if off%cs != 0 {
				return invalid("L2 entry %d: data cluster %d not cluster aligned", i/8, off)
			}
			if off < cs {
				return invalid("L2 entry %d: data cluster overlaps the header", i/8)
			}
			end = off + cs
			if h.l2[off] {
				return invalid("L2 entry %d: data cluster %d is an L2 table", i/8, off)
			}
		}
		if off < l1End && end > l1Start {
			return invalid("L2 entry %d: cluster at %d overlaps the L1 table", i/8, off)
		}
		if h.FileSize >= 0 && off >= uint64(h.FileSize) {
			return invalid("L2 entry %d: cluster at %d outside the file (%d bytes)", i/8, off, h.FileSize)
		}
	}
	return nil
}
