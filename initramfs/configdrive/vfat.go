package configdrive

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"unicode/utf16"
)

const (
	fatMinBytes    = 1 << 20 // smallest image: room for the kernel to be happy and for edits
	fatMaxClusters = 4084    // FAT12 limit (4085 or more clusters is FAT16)
	dirEntryLen    = 32
)

// VFAT renders the drive as a FAT12 filesystem with 4096-byte logical
// sectors, labelled config-2, with a long (VFAT) name for every entry. It is
// for disks with 4096-byte logical sectors, where the kernel cannot mount a
// filesystem whose sectors are smaller than the device's.
func VFAT(c Config) ([]byte, error) { return vfat(c, 4096) }

// fatLayout is the geometry of a FAT12 image.
type fatLayout struct {
	ss, spc, clusterBytes int
	rootSectors           int
	fatSectors            int
	clusters              int
}

func vfat(c Config, ss int) ([]byte, error) {
	root, dirs, err := shortNamedTree(c, fatShortName)
	if err != nil {
		return nil, err
	}

	// Size the filesystem: one sector per cluster unless FAT12 runs out.
	lay := fatLayout{ss: ss, spc: 1}
	for {
		lay.clusterBytes = ss * lay.spc
		need := 0
		for _, d := range dirs[1:] {
			need += max(1, ceilDiv(dirBytes(d), lay.clusterBytes))
		}
		for _, d := range dirs {
			for _, f := range d.children {
				if !f.dir {
					need += ceilDiv(len(f.data), lay.clusterBytes)
				}
			}
		}
		lay.clusters = max(need+8, fatMinBytes/lay.clusterBytes)
		if lay.clusters <= fatMaxClusters {
			break
		}
		if lay.spc == 128 {
			return nil, errors.New("config drive: contents too large for a FAT12 filesystem")
		}
		lay.spc *= 2
	}
	lay.rootSectors = ceilDiv(dirBytes(root)+dirEntryLen, ss) // + the volume label entry
	lay.fatSectors = ceilDiv((lay.clusters+2)*3/2+1, ss)
	dataStart := 1 + 2*lay.fatSectors + lay.rootSectors
	total := dataStart + lay.clusters*lay.spc
	img := make([]byte, total*ss)

	// Allocate clusters: directories first, then files, contiguously.
	fat := make([]byte, lay.fatSectors*ss)
	set12(fat, 0, 0xff8)
	set12(fat, 1, 0xfff)
	next := 2
	alloc := func(n *node, count int) {
		if count == 0 {
			return
		}
		n.lba, n.size = uint32(next), uint32(count)
		for i := range count {
			v := uint16(next + i + 1)
			if i == count-1 {
				v = 0xfff
			}
			set12(fat, next+i, v)
		}
		next += count
	}
	for _, d := range dirs[1:] {
		alloc(d, max(1, ceilDiv(dirBytes(d), lay.clusterBytes)))
	}
	for _, d := range dirs {
		for _, f := range d.children {
			if !f.dir {
				alloc(f, ceilDiv(len(f.data), lay.clusterBytes))
			}
		}
	}
	clusterOff := func(cl uint32) int { return (dataStart + (int(cl)-2)*lay.spc) * ss }

	writeBootSector(img[:ss], lay, total, c.UUID)
	for i := range 2 {
		copy(img[(1+i*lay.fatSectors)*ss:], fat)
	}
	rootEntries := append(labelEntry(), encodeDir(root)...)
	copy(img[(1+2*lay.fatSectors)*ss:], rootEntries)
	for _, d := range dirs[1:] {
		copy(img[clusterOff(d.lba):], encodeDir(d))
		for _, f := range d.children {
			if !f.dir && len(f.data) > 0 {
				copy(img[clusterOff(f.lba):], f.data)
			}
		}
	}
	return img, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func set12(fat []byte, n int, v uint16) {
	off := n * 3 / 2
	if n%2 == 0 {
		fat[off] = byte(v)
		fat[off+1] = fat[off+1]&0xf0 | byte(v>>8)&0x0f
	} else {
		fat[off] = fat[off]&0x0f | byte(v<<4)
		fat[off+1] = byte(v >> 4)
	}
}

func writeBootSector(b []byte, lay fatLayout, total int, uuid string) {
	le := binary.LittleEndian
	copy(b, []byte{0xeb, 0x3c, 0x90})
	copy(b[3:], "MSWIN4.1")
	le.PutUint16(b[11:], uint16(lay.ss))
	b[13] = byte(lay.spc)
	le.PutUint16(b[14:], 1) // reserved sectors
	b[16] = 2               // FATs
	le.PutUint16(b[17:], uint16(lay.rootSectors*lay.ss/dirEntryLen))
	if total < 1<<16 {
		le.PutUint16(b[19:], uint16(total))
	} else {
		le.PutUint32(b[32:], uint32(total))
	}
	b[21] = 0xf8
	le.PutUint16(b[22:], uint16(lay.fatSectors))
	le.PutUint16(b[24:], 32) // sectors per track
	le.PutUint16(b[26:], 64) // heads
	b[36] = 0x80
	b[38] = 0x29
	le.PutUint32(b[39:], crc32.ChecksumIEEE([]byte(uuid))) // volume serial, stable per instance
	copy(b[43:], padded(Label, 11))
	copy(b[54:], "FAT12   ")
	b[62] = 0xf4 // hlt: not bootable
	b[510], b[511] = 0x55, 0xaa
}

// fatShortName makes an 8.3 name (space padded, 11 bytes) for a long name.
func fatShortName(name string, dir bool, attempt int) string {
	ok := func(r rune) bool {
		return r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-~!#$%&'()@^`{}", r)
	}
	base, ext := mangle(name, dir, attempt+1, 8, 3, ok) // always ~N: the long name is authoritative
	return string(padded(base, 8)) + string(padded(ext, 3))
}

// dirBytes is the size of d's entries (without "." and ".." for the root).
func dirBytes(d *node) int {
	n := 0
	if d.parent != nil {
		n = 2 * dirEntryLen
	}
	for _, c := range d.children {
		n += (ceilDiv(len(utf16.Encode([]rune(c.name))), 13) + 1) * dirEntryLen
	}
	return n
}

// encodeDir returns d's entries: "." and ".." (except in the root), then a
// long name and a short entry per child.
func encodeDir(d *node) []byte {
	var out []byte
	if d.parent != nil {
		parent := uint32(0) // ".." of a first-level directory points at the root: cluster 0
		if d.parent.parent != nil {
			parent = d.parent.lba
		}
		out = append(out, shortEntry(".          ", 0x10, d.lba, 0)...)
		out = append(out, shortEntry("..         ", 0x10, parent, 0)...)
	}
	for _, c := range d.children {
		attr := byte(0x21) // read-only, archive
		if c.dir {
			attr = 0x10
		}
		out = append(out, lfnEntries(c.name, c.short)...)
		out = append(out, shortEntry(c.short, attr, c.lba, uint32(len(c.data)))...)
	}
	return out
}

func shortEntry(name string, attr byte, cluster, size uint32) []byte {
	e := make([]byte, dirEntryLen)
	copy(e, name)
	e[11] = attr
	date := uint16((stamp.Year()-1980)<<9 | int(stamp.Month())<<5 | stamp.Day())
	for _, off := range []int{16, 18, 24} { // created, accessed, modified dates
		binary.LittleEndian.PutUint16(e[off:], date)
	}
	binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
	binary.LittleEndian.PutUint32(e[28:], size)
	return e
}

func labelEntry() []byte {
	e := shortEntry(string(padded(Label, 11)), 0x08, 0, 0)
	clear(e[16:20]) // a label has only a modification time
	return e
}

// lfnEntries encodes name as VFAT long-name entries, last part first.
func lfnEntries(name, short string) []byte {
	var sum byte
	for i := range 11 {
		sum = (sum&1)<<7 + sum>>1 + short[i]
	}
	u := utf16.Encode([]rune(name))
	n := ceilDiv(len(u), 13)
	chars := make([]uint16, n*13)
	for i := range chars {
		switch {
		case i < len(u):
			chars[i] = u[i]
		case i == len(u):
			chars[i] = 0
		default:
			chars[i] = 0xffff
		}
	}
	var out []byte
	for seq := n; seq >= 1; seq-- {
		e := make([]byte, dirEntryLen)
		e[0] = byte(seq)
		if seq == n {
			e[0] |= 0x40
		}
		e[11], e[13] = 0x0f, sum
		part := chars[(seq-1)*13 : seq*13]
		for i, off := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
			binary.LittleEndian.PutUint16(e[off:], part[i])
		}
		out = append(out, e...)
	}
	return out
}
