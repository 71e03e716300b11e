// Package fat reads FAT12, FAT16 and FAT32 file systems, read-only, from an
// io.ReaderAt: enough to list directories and find files on an EFI system
// partition without mounting it. Every structure is checked before use (it
// comes from an image a user supplied): cluster numbers inside the volume,
// chains without loops, directories of at most 65536 entries. File data is
// never read; only the boot sector, the FAT sectors that chains go through
// and directory clusters are.
//
//	fs, err := fat.Open(io.NewSectionReader(img, espStart, espSize), espSize)
//	e, err := fs.Lookup(`\EFI\debian\grubx64.efi`) // case-insensitive, as UEFI
//	entries, err := fs.ReadDir(`\EFI`)
package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// ErrCorrupt is wrapped by every error about an inconsistent file system.
var ErrCorrupt = errors.New("corrupt FAT file system")

// ErrNotFAT is returned by Open when the boot sector holds no FAT BIOS
// parameter block.
var ErrNotFAT = errors.New("not a FAT file system")

// Limits on what a directory may make the reader do.
const (
	maxDirEntries   = 65536 // the FAT specification's limit per directory
	fatCacheEntries = 64    // FAT sectors kept between lookups
)

// FS is an open FAT file system.
type FS struct {
	r         io.ReaderAt
	Type      int    // 12, 16 or 32
	Clusters  uint32 // number of data clusters (cluster numbers 2..Clusters+1)
	ss        int64  // bytes per sector
	spc       int64  // sectors per cluster
	fatStart  int64  // byte offset of the FAT in use
	rootStart int64  // FAT12/16: byte offset of the fixed root directory
	rootLen   int64  // FAT12/16: its bytes
	rootClus  uint32 // FAT32: first cluster of the root directory
	dataStart int64  // byte offset of cluster 2
	fatCache  map[int64][]byte
}

type bpb struct {
	bytesPerSec uint16
	secPerClus  uint8
	reserved    uint16
	numFATs     uint8
	rootEntries uint16
	totSec16    uint16
	fatSz16     uint16
	totSec32    uint32
	fatSz32     uint32
	extFlags    uint16
	rootClus    uint32
}

func parseBPB(b []byte) bpb {
	le := binary.LittleEndian
	return bpb{
		bytesPerSec: le.Uint16(b[11:]), secPerClus: b[13], reserved: le.Uint16(b[14:]), numFATs: b[16],
		rootEntries: le.Uint16(b[17:]), totSec16: le.Uint16(b[19:]), fatSz16: le.Uint16(b[22:]),
		totSec32: le.Uint32(b[32:]), fatSz32: le.Uint32(b[36:]), extFlags: le.Uint16(b[40:]), rootClus: le.Uint32(b[44:]),
	}
}

func pow2(v int64) bool { return v > 0 && v&(v-1) == 0 }

// Open reads the boot sector of the FAT file system in r, which holds size
// bytes (the partition's size), and checks its geometry.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, fmt.Errorf("fat: read boot sector: %w", err)
	}
	if b[0] != 0xeb && b[0] != 0xe9 {
		return nil, ErrNotFAT
	}
	p := parseBPB(b)
	ss, spc := int64(p.bytesPerSec), int64(p.secPerClus)
	if ss < 512 || ss > 4096 || !pow2(ss) || !pow2(spc) || spc > 128 || p.reserved == 0 || p.numFATs == 0 {
		return nil, ErrNotFAT
	}
	tot := int64(p.totSec16)
	if tot == 0 {
		tot = int64(p.totSec32)
	}
	fatSz := int64(p.fatSz16)
	if fatSz == 0 {
		fatSz = int64(p.fatSz32)
	}
	if tot == 0 || fatSz == 0 {
		return nil, ErrNotFAT
	}
	rootSecs := (int64(p.rootEntries)*32 + ss - 1) / ss
	meta := int64(p.reserved) + int64(p.numFATs)*fatSz + rootSecs
	if meta >= tot {
		return nil, fmt.Errorf("%w: %d sectors of FATs and root directory in a volume of %d sectors", ErrCorrupt, meta, tot)
	}
	if size > 0 && tot*ss > size {
		return nil, fmt.Errorf("%w: the volume claims %d bytes, its partition has %d", ErrCorrupt, tot*ss, size)
	}
	clusters := (tot - meta) / spc
	f := &FS{r: r, ss: ss, spc: spc, Clusters: uint32(min(clusters, 0x0ffffff5)), fatCache: map[int64][]byte{}}
	switch {
	case clusters < 4085:
		f.Type = 12
	case clusters < 65525:
		f.Type = 16
	default:
		f.Type = 32
	}
	if need := (int64(f.Clusters) + 2) * int64(f.Type) / 8; fatSz*ss < need {
		return nil, fmt.Errorf("%w: a FAT of %d bytes cannot map %d clusters", ErrCorrupt, fatSz*ss, f.Clusters)
	}
	active := int64(0)
	if f.Type == 32 {
		if p.rootEntries != 0 || p.fatSz16 != 0 {
			return nil, fmt.Errorf("%w: FAT32 volume with a FAT16 root directory or FAT size", ErrCorrupt)
		}
		if p.extFlags&0x80 != 0 { // mirroring off: only the active FAT is current
			active = int64(p.extFlags & 0x0f)
			if active >= int64(p.numFATs) {
				return nil, fmt.Errorf("%w: active FAT %d of %d", ErrCorrupt, active, p.numFATs)
			}
		}
		f.rootClus = p.rootClus
		if !f.valid(f.rootClus) {
			return nil, fmt.Errorf("%w: root directory cluster %d is outside the volume", ErrCorrupt, f.rootClus)
		}
	} else if p.rootEntries == 0 {
		return nil, fmt.Errorf("%w: FAT%d volume without root directory entries", ErrCorrupt, f.Type)
	}
	f.fatStart = (int64(p.reserved) + active*fatSz) * ss
	f.rootStart = (int64(p.reserved) + int64(p.numFATs)*fatSz) * ss
	f.rootLen = int64(p.rootEntries) * 32
	f.dataStart = meta * ss
	return f, nil
}

// valid reports whether c is a data cluster of the volume.
func (f *FS) valid(c uint32) bool { return c >= 2 && c-2 < f.Clusters }

// next returns the FAT entry of cluster c: the next cluster of its chain, or
// 0 at the end of the chain.
func (f *FS) next(c uint32) (uint32, error) {
	var off int64
	switch f.Type {
	case 12:
		off = int64(c) + int64(c)/2
	case 16:
		off = int64(c) * 2
	default:
		off = int64(c) * 4
	}
	var raw [4]byte
	for i := range int64(f.Type+7) / 8 { // FAT12 entries may straddle two sectors
		sec := (off + i) / f.ss
		b, err := f.fatSector(sec)
		if err != nil {
			return 0, err
		}
		raw[i] = b[(off+i)%f.ss]
	}
	v := binary.LittleEndian.Uint32(raw[:])
	var eoc uint32
	switch f.Type {
	case 12:
		if c%2 == 1 {
			v >>= 4
		}
		v &= 0xfff
		eoc = 0xff8
	case 16:
		v &= 0xffff
		eoc = 0xfff8
	default:
		v &= 0x0fffffff
		eoc = 0x0ffffff8
	}
	switch {
	case v >= eoc:
		return 0, nil
	case !f.valid(v):
		return 0, fmt.Errorf("%w: cluster %d is followed by %#x", ErrCorrupt, c, v)
	}
	return v, nil
}

func (f *FS) fatSector(sec int64) ([]byte, error) {
	if b, ok := f.fatCache[sec]; ok {
		return b, nil
	}
	if len(f.fatCache) >= fatCacheEntries {
		clear(f.fatCache)
	}
	b := make([]byte, f.ss)
	if _, err := f.r.ReadAt(b, f.fatStart+sec*f.ss); err != nil {
		return nil, fmt.Errorf("fat: read FAT sector %d: %w", sec, err)
	}
	f.fatCache[sec] = b
	return b, nil
}

// readChain reads the directory whose chain starts at first, at most
// maxDirEntries entries long.
func (f *FS) readChain(first uint32) ([]byte, error) {
	csize := f.ss * f.spc
	limit := int64(maxDirEntries) * 32
	var out []byte
	seen := 0
	for c := first; c != 0; {
		if !f.valid(c) {
			return nil, fmt.Errorf("%w: directory cluster %d is outside the volume", ErrCorrupt, c)
		}
		if seen++; int64(seen) > int64(f.Clusters) || int64(len(out)) >= limit {
			return nil, fmt.Errorf("%w: directory chain from cluster %d loops or exceeds %d entries", ErrCorrupt, first, maxDirEntries)
		}
		buf := make([]byte, csize)
		if _, err := f.r.ReadAt(buf, f.dataStart+int64(c-2)*csize); err != nil {
			return nil, fmt.Errorf("fat: read directory cluster %d: %w", c, err)
		}
		out = append(out, buf...)
		next, err := f.next(c)
		if err != nil {
			return nil, err
		}
		c = next
	}
	return out, nil
}

// rootDir returns the raw root directory.
func (f *FS) rootDir() ([]byte, error) {
	if f.Type == 32 {
		return f.readChain(f.rootClus)
	}
	b := make([]byte, f.rootLen)
	if _, err := f.r.ReadAt(b, f.rootStart); err != nil {
		return nil, fmt.Errorf("fat: read root directory: %w", err)
	}
	return b, nil
}

// errNotExist wraps fs.ErrNotExist with the path.
func errNotExist(path string) error {
	return &fs.PathError{Op: "lookup", Path: path, Err: fs.ErrNotExist}
}
