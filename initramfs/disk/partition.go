package disk

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unicode/utf16"
)

// LinuxFilesystemGUID is the GPT type of the partition AddPartition creates:
// "Linux filesystem data". cloud-init finds the config drive by its label,
// not by its type; a Linux type keeps Windows from giving the partition a
// drive letter and systemd's GPT auto-generator from mounting it.
const LinuxFilesystemGUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

// Partition is a partition AddPartition created. Start and Size are bytes.
type Partition struct {
	Number int
	Start  int64
	Size   int64
}

// FixGPT moves the backup GPT header and entries of f to the last sectors of
// the disk and extends the last usable LBA accordingly, after an image
// smaller than the disk was written to it; it also stretches a plain
// protective MBR over the whole disk. It reports false (and writes nothing)
// when the disk has no GPT. A GPT that fails validation (CRC, bounds,
// overlaps) is an error and is left untouched.
func FixGPT(f *os.File, sectorSize int) (bool, error) {
	ss, sectors, err := geometry(f, sectorSize)
	if err != nil {
		return false, err
	}
	found, err := fixGPT(f, ss, sectors)
	if err != nil || !found {
		return found, err
	}
	return true, Reread(f)
}

// fixGPT is FixGPT on a disk of the given geometry, without the re-read.
func fixGPT(d device, ss, sectors int64) (bool, error) {
	g, err := readGPT(d, ss, sectors)
	if err != nil || g == nil {
		return false, err
	}
	oldAlt := g.altLBA
	if err := g.relocate(sectors); err != nil {
		return true, err
	}
	if err := g.write(d, sectors); err != nil {
		return true, err
	}
	// A stale backup header inside the disk would be found by tools that
	// search for one; it lies outside every partition (it was beyond the old
	// last usable LBA), so clearing it loses nothing.
	if oldAlt != g.altLBA && oldAlt > g.lastUsed() && int64(oldAlt) < sectors {
		if _, err := d.WriteAt(make([]byte, ss), int64(oldAlt)*ss); err != nil {
			return true, fmt.Errorf("clear old backup GPT header at LBA %d: %w", oldAlt, err)
		}
		if err := d.Sync(); err != nil {
			return true, fmt.Errorf("sync the cleared old backup GPT header: %w", err)
		}
	}
	return true, nil
}

// AddPartition creates a partition of at least size bytes in the free space
// at the end of the disk, 1 MiB aligned, after every existing partition.
//
// On GPT (whose backup is first moved to the real end of the disk) the type
// is LinuxFilesystemGUID and the partition name is name. On MBR the type is
// 0x83 in a free primary slot; an MBR whose four slots are used gives
// ErrNoMBRSlot and is not modified. A disk without a table gives ErrNoTable.
// The kernel is asked to re-read the table afterwards.
func AddPartition(f *os.File, sectorSize int, size int64, name string) (Partition, error) {
	ss, sectors, err := geometry(f, sectorSize)
	if err != nil {
		return Partition{}, err
	}
	if size <= 0 {
		return Partition{}, fmt.Errorf("add partition: size %d is not positive", size)
	}
	want := (size + ss - 1) / ss
	g, err := readGPT(f, ss, sectors)
	if err != nil {
		return Partition{}, err
	}
	var p Partition
	if g != nil {
		p, err = addGPT(f, g, sectors, want, name)
	} else {
		_, _, ok, rerr := readMBR(f)
		switch {
		case rerr != nil:
			err = rerr
		case !ok:
			err = fmt.Errorf("add partition to %s: %w", f.Name(), ErrNoTable)
		default:
			p, err = addMBR(f, ss, sectors, want)
		}
	}
	if err != nil {
		return Partition{}, err
	}
	return p, Reread(f)
}

func addGPT(d device, g *gpt, sectors, want int64, name string) (Partition, error) {
	if len(utf16.Encode([]rune(name))) > 36 {
		return Partition{}, fmt.Errorf("GPT partition name %q is longer than 36 UTF-16 units", name)
	}
	if err := g.relocate(sectors); err != nil {
		return Partition{}, err
	}
	slot := -1
	for i := range int(g.numEntries) {
		if isZero(g.entry(i)[:16]) {
			slot = i
			break
		}
	}
	if slot < 0 {
		return Partition{}, fmt.Errorf("no free GPT partition entry: all %d are in use", g.numEntries)
	}
	start, err := placeAtEnd(g.ss, int64(g.lastUsed())+1, int64(g.lastUse)+1, want)
	if err != nil {
		return Partition{}, err
	}
	e := g.entry(slot)
	clear(e)
	typ, err := parseGUID(LinuxFilesystemGUID)
	if err != nil {
		return Partition{}, err
	}
	copy(e[0:16], typ[:])
	if _, err := rand.Read(e[16:32]); err != nil {
		return Partition{}, fmt.Errorf("partition GUID: %w", err)
	}
	e[16+7] = e[16+7]&0x0f | 0x40 // version 4 (byte 7 holds the high byte of the third, little-endian field)
	e[16+8] = e[16+8]&0x3f | 0x80 // RFC 4122 variant
	binary.LittleEndian.PutUint64(e[32:], uint64(start))
	binary.LittleEndian.PutUint64(e[40:], uint64(start+want-1))
	for i, u := range utf16.Encode([]rune(name)) {
		binary.LittleEndian.PutUint16(e[56+2*i:], u)
	}
	if err := g.write(d, sectors); err != nil {
		return Partition{}, err
	}
	return Partition{Number: slot + 1, Start: start * g.ss, Size: want * g.ss}, nil
}

// geometry returns the sector size and the disk size in whole sectors.
func geometry(f *os.File, sectorSize int) (ss, sectors int64, err error) {
	switch sectorSize {
	case 512, 1024, 2048, 4096:
	default:
		return 0, 0, fmt.Errorf("sector size %d is not supported", sectorSize)
	}
	n, err := size(f)
	if err != nil {
		return 0, 0, err
	}
	ss = int64(sectorSize)
	return ss, n / ss, nil
}

// parseGUID encodes a textual GUID in GPT's mixed-endian byte order.
func parseGUID(s string) ([16]byte, error) {
	var g [16]byte
	var raw [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("invalid GUID %q", s)
	}
	hexs := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	for i := range raw {
		hi, lo := unhex(hexs[2*i]), unhex(hexs[2*i+1])
		if hi < 0 || lo < 0 {
			return g, errors.New("invalid GUID " + s)
		}
		raw[i] = byte(hi<<4 | lo)
	}
	g = raw
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	return g, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
