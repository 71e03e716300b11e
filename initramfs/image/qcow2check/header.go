// Package qcow2check validates untrusted qcow2 images before any qcow2 library
// is allowed to look at them.
//
// go-qcow2reader trusts its input: it allocates whatever the header asks for
// (cluster_bits=40 or l1_size=0xffffffff exhaust memory), opens backing files by
// local path and expects a zeroed target. Check reads the header, the header
// extensions and the L1 table through an io.ReaderAt, with every allocation
// bounded by the cluster size (at most 2 MiB) or by the virtual size, and
// refuses anything byoi does not install: backing files, external data files,
// encryption, extended L2 entries, the corrupt bit, unknown incompatible
// features. L2 tables are validated later, one at a time, with CheckL2:
//
//	h, err := qcow2check.Check(ra, fileSize)
//	if err != nil { return err }          // clear reason, never a panic
//	if h.IsL2(off, len(p)) { err = h.CheckL2(p) }
package qcow2check

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Magic is the first four bytes of a qcow2 file.
const Magic = "QFI\xfb"

// Limits of what Check accepts.
const (
	MinClusterBits = 9
	MaxClusterBits = 21       // 2 MiB clusters, qemu's own maximum
	MaxL1Bytes     = 32 << 20 // qemu's QCOW_MAX_L1_SIZE
	MaxVirtualSize = 1 << 56  // qemu's QCOW_MAX_SIZE... far beyond any disk
	maxExtensions  = 256
	maxSnapshots   = 65536
)

// ErrInvalid is wrapped by every validation failure.
var ErrInvalid = errors.New("invalid qcow2 image")

// Incompatible feature bits (qcow2 spec).
const (
	featDirty        = 1 << 0
	featCorrupt      = 1 << 1
	featExternalData = 1 << 2
	featCompression  = 1 << 3
	featExtendedL2   = 1 << 4
)

// Header extension types byoi refuses or cares about.
const (
	extEnd          = 0x00000000
	extExternalData = 0x44415441
	extEncryption   = 0x0537be77
)

// Header is the validated part of a qcow2 header plus what is needed to check L2 tables.
type Header struct {
	Version         uint32
	ClusterBits     uint32
	Size            uint64 // virtual size in bytes
	L1Size          uint32
	L1TableOffset   uint64
	HeaderLength    uint32
	CompressionType uint8 // 0 zlib (raw deflate), 1 zstd
	FileSize        int64 // -1 when unknown

	l2 map[uint64]bool // host offsets of the L2 tables named by L1
}

// ClusterSize returns the cluster size in bytes.
func (h *Header) ClusterSize() int64 { return 1 << h.ClusterBits }

// L2Tables returns the number of distinct L2 tables the L1 table points to.
func (h *Header) L2Tables() int { return len(h.l2) }

// L1Span returns how many bytes of virtual size one L1 entry covers.
func (h *Header) L1Span() int64 { return h.ClusterSize() * (h.ClusterSize() / 8) }

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// ParseHeader decodes and validates the fixed header fields in b (at least 72
// bytes; 104 or more for version 3). It does not read extensions or tables.
func ParseHeader(b []byte, fileSize int64) (*Header, error) {
	if len(b) < 72 || string(b[:4]) != Magic {
		return nil, invalid("no qcow2 magic")
	}
	be := binary.BigEndian
	h := &Header{
		Version:       be.Uint32(b[4:]),
		ClusterBits:   be.Uint32(b[20:]),
		Size:          be.Uint64(b[24:]),
		L1Size:        be.Uint32(b[36:]),
		L1TableOffset: be.Uint64(b[40:]),
		HeaderLength:  72,
		FileSize:      fileSize,
	}
	backingOff, backingLen := be.Uint64(b[8:]), be.Uint32(b[16:])
	crypt := be.Uint32(b[32:])
	refOff, refClusters := be.Uint64(b[48:]), be.Uint32(b[56:])
	nbSnap, snapOff := be.Uint32(b[60:]), be.Uint64(b[64:])

	if h.Version != 2 && h.Version != 3 {
		return nil, invalid("unsupported version %d", h.Version)
	}
	if h.ClusterBits < MinClusterBits || h.ClusterBits > MaxClusterBits {
		return nil, invalid("cluster_bits %d out of range %d..%d", h.ClusterBits, MinClusterBits, MaxClusterBits)
	}
	if backingOff != 0 || backingLen != 0 {
		return nil, invalid("backing files are not supported")
	}
	if crypt != 0 {
		return nil, invalid("encrypted images are not supported (crypt_method %d)", crypt)
	}
	if h.Size > MaxVirtualSize {
		return nil, invalid("virtual size %d too large", h.Size)
	}
	if err := h.parseV3(b); err != nil {
		return nil, err
	}
	if err := h.checkL1Bounds(); err != nil {
		return nil, err
	}
	cs := uint64(h.ClusterSize())
	if refOff%cs != 0 || (fileSize >= 0 && (refOff > uint64(fileSize) || uint64(refClusters) > uint64(fileSize)/cs+1)) {
		return nil, invalid("refcount table (offset %d, %d clusters) outside the file", refOff, refClusters)
	}
	if nbSnap > maxSnapshots || (nbSnap > 0 && (snapOff%8 != 0 || (fileSize >= 0 && snapOff >= uint64(fileSize)))) {
		return nil, invalid("snapshot table (%d snapshots at %d) invalid", nbSnap, snapOff)
	}
	return h, nil
}

func (h *Header) parseV3(b []byte) error {
	if h.Version == 2 {
		return nil
	}
	if len(b) < 104 {
		return invalid("version 3 header truncated")
	}
	be := binary.BigEndian
	incompat := be.Uint64(b[72:])
	refcountOrder := be.Uint32(b[96:])
	h.HeaderLength = be.Uint32(b[100:])
	if h.HeaderLength < 104 || h.HeaderLength%8 != 0 || int64(h.HeaderLength) > h.ClusterSize() {
		return invalid("header_length %d invalid", h.HeaderLength)
	}
	if refcountOrder > 6 {
		return invalid("refcount_order %d invalid", refcountOrder)
	}
	switch {
	case incompat&featCorrupt != 0:
		return invalid("image is marked corrupt")
	case incompat&featExternalData != 0:
		return invalid("external data files are not supported")
	case incompat&featExtendedL2 != 0:
		return invalid("extended L2 entries are not supported")
	case incompat&^(featDirty|featCompression) != 0:
		return invalid("unknown incompatible features 0x%x", incompat)
	}
	if h.HeaderLength > 104 {
		if len(b) < 105 {
			return invalid("header truncated before compression_type")
		}
		h.CompressionType = b[104]
	}
	if h.CompressionType > 1 {
		return invalid("unknown compression type %d", h.CompressionType)
	}
	if (incompat&featCompression != 0) != (h.CompressionType != 0) {
		return invalid("compression type bit disagrees with compression_type %d", h.CompressionType)
	}
	return nil
}

// l1Needed returns the number of L1 entries the virtual size requires.
func (h *Header) l1Needed() uint64 {
	span := uint64(h.L1Span())
	return (h.Size + span - 1) / span
}

func (h *Header) checkL1Bounds() error {
	cs := uint64(h.ClusterSize())
	need, have := h.l1Needed(), uint64(h.L1Size)
	if have < need {
		return invalid("l1_size %d too small for virtual size %d (need %d)", have, h.Size, need)
	}
	if have > need+cs/8 || have*8 > MaxL1Bytes {
		return invalid("l1_size %d too large for virtual size %d", have, h.Size)
	}
	if have == 0 {
		return nil
	}
	if h.L1TableOffset == 0 || h.L1TableOffset%cs != 0 {
		return invalid("l1_table_offset %d not cluster aligned", h.L1TableOffset)
	}
	if h.FileSize >= 0 && (h.L1TableOffset > uint64(h.FileSize) || have*8 > uint64(h.FileSize)-h.L1TableOffset) {
		return invalid("L1 table (%d entries at %d) extends past the end of the file (%d bytes)", have, h.L1TableOffset, h.FileSize)
	}
	return nil
}

// Check validates the header, its extensions and the L1 table of the qcow2
// image behind ra. fileSize is the file's length, or -1 if unknown.
func Check(ra io.ReaderAt, fileSize int64) (*Header, error) {
	fixed := make([]byte, 512)
	n, err := ra.ReadAt(fixed, 0)
	if n < 72 && err != nil {
		return nil, invalid("reading header: %v", err)
	}
	h, err := ParseHeader(fixed[:n], fileSize)
	if err != nil {
		return nil, err
	}
	first := int64(h.ClusterSize())
	if fileSize >= 0 {
		first = min(first, fileSize)
	}
	cluster := make([]byte, first)
	if n, err := ra.ReadAt(cluster, 0); int64(n) < first {
		return nil, invalid("reading first cluster: %v", err)
	}
	if err := h.checkExtensions(cluster); err != nil {
		return nil, err
	}
	if err := h.readL1(ra); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Header) checkExtensions(cluster []byte) error {
	off := int(h.HeaderLength)
	for i := 0; ; i++ {
		if i >= maxExtensions {
			return invalid("more than %d header extensions", maxExtensions)
		}
		if off+8 > len(cluster) {
			return invalid("header extensions run past the first cluster")
		}
		typ := binary.BigEndian.Uint32(cluster[off:])
		length := int(binary.BigEndian.Uint32(cluster[off+4:]))
		off += 8
		switch typ {
		case extEnd:
			return nil
		case extExternalData:
			return invalid("external data files are not supported")
		case extEncryption:
			return invalid("encrypted images are not supported")
		}
		if length > len(cluster)-off {
			return invalid("header extension 0x%08x of %d bytes runs past the first cluster", typ, length)
		}
		off += (length + 7) &^ 7
	}
}

func (h *Header) readL1(ra io.ReaderAt) error {
	h.l2 = make(map[uint64]bool)
	if h.L1Size == 0 {
		return nil
	}
	buf := make([]byte, int(h.L1Size)*8)
	if n, err := ra.ReadAt(buf, int64(h.L1TableOffset)); n < len(buf) {
		return invalid("L1 table truncated: %v", err)
	}
	cs := uint64(h.ClusterSize())
	l1End := h.L1TableOffset + uint64(len(buf))
	for i := range int(h.L1Size) {
		e := binary.BigEndian.Uint64(buf[i*8:])
		if e&0x7f000000000001ff != 0 {
			return invalid("L1 entry %d has reserved bits set (0x%x)", i, e)
		}
		off := e & 0x00fffffffffffe00
		if off == 0 {
			continue
		}
		switch {
		case off%cs != 0:
			return invalid("L1 entry %d: L2 table offset %d not cluster aligned", i, off)
		case off < cs:
			return invalid("L1 entry %d: L2 table overlaps the header", i)
		case off+cs > h.L1TableOffset && off < l1End:
			return invalid("L1 entry %d: L2 table overlaps the L1 table", i)
		case h.FileSize >= 0 && off+cs > uint64(h.FileSize):
			return invalid("L1 entry %d: L2 table at %d outside the file (%d bytes)", i, off, h.FileSize)
		case h.l2[off]:
			return invalid("L1 entry %d: L2 table at %d used twice", i, off)
		}
		h.l2[off] = true
	}
	return nil
}

// L2Offsets returns the sorted host offsets of the L2 tables.
func (h *Header) L2Offsets() []uint64 {
	offs := make([]uint64, 0, len(h.l2))
	for o := range h.l2 {
		offs = append(offs, o)
	}
	slices.Sort(offs)
	return offs
}
