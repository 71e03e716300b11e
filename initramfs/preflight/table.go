package preflight

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strings"
)

// Partition table kinds.
const (
	TableGPT = "gpt"
	TableMBR = "mbr"
)

// Partition type GUIDs (as printed, upper case) and MBR type bytes that the
// checks look for.
const (
	GUIDESP       = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	GUIDBIOSBoot  = "21686148-6449-6E6F-744E-656564454649"
	GUIDBasicData = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" // FAT or NTFS data
	mbrESP        = 0xef
	mbrProtective = 0xee
)

// mbrFAT are MBR partition types of FAT file systems.
var mbrFAT = []byte{0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e}

// Table is an image's partition table.
type Table struct {
	Kind       string // TableGPT or TableMBR
	SectorSize int    // logical sector size the table was found with
	// BootCode reports non-zero boot code in the MBR (bytes 0-439), what a
	// BIOS runs: GRUB's boot.img, syslinux's mbr.bin, Windows' MBR.
	BootCode   bool
	Partitions []Partition
}

// Partition is one entry of the table.
type Partition struct {
	Number int    // 1-based entry number
	Start  int64  // bytes from the start of the image
	Size   int64  // bytes
	Type   string // GPT type GUID (upper case) or MBR type as "0xef"
	Name   string // GPT partition name
	mbr    byte
}

// ESP reports whether p is typed as an EFI system partition.
func (p Partition) ESP() bool { return p.Type == GUIDESP || p.mbr == mbrESP }

// BIOSBoot reports whether p is a BIOS boot partition (GRUB's core.img on GPT).
func (p Partition) BIOSBoot() bool { return p.Type == GUIDBIOSBoot }

// maybeFAT reports whether p's type allows a FAT file system besides the ESP.
func (p Partition) maybeFAT() bool {
	return p.Type == GUIDBasicData || slices.Contains(mbrFAT, p.mbr)
}

const maxGPTEntryBytes = 1 << 20 // partition entries read at most

var errNoTable = errors.New("no partition table")

// ReadTable reads the GPT (512- or 4096-byte sectors) or, failing that, the
// MBR of an image whose size in bytes is size (0 when unknown, as for a
// compressed stream: then partitions are not checked against the end).
// It returns an error wrapping errNoTable when the image has neither.
func ReadTable(r io.ReaderAt, size int64) (Table, error) {
	mbr := make([]byte, 512)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return Table{}, fmt.Errorf("read the MBR: %w", err)
	}
	bootCode := !isZero(mbr[:440])
	for _, ss := range []int64{512, 4096} {
		t, err := readGPT(r, ss, size)
		if err != nil {
			return Table{}, err
		}
		if t != nil {
			t.BootCode = bootCode
			return *t, nil
		}
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return Table{}, errNoTable
	}
	t := Table{Kind: TableMBR, SectorSize: 512, BootCode: bootCode}
	for i := range 4 {
		e := mbr[446+16*i : 446+16*(i+1)]
		typ, start, n := e[4], int64(binary.LittleEndian.Uint32(e[8:])), int64(binary.LittleEndian.Uint32(e[12:]))
		if typ == 0 || n == 0 {
			continue
		}
		if e[0] != 0 && e[0] != 0x80 {
			// A FAT boot sector (a "superfloppy") also ends in 55 AA; its
			// boot code is no partition entry.
			return Table{}, errNoTable
		}
		if typ == mbrProtective {
			return Table{}, fmt.Errorf("%w: the MBR is a GPT protective MBR but there is no valid GPT header at LBA 1", errBadTable)
		}
		t.Partitions = append(t.Partitions, Partition{Number: i + 1, Start: start * 512, Size: n * 512,
			Type: fmt.Sprintf("%#02x", typ), mbr: typ})
	}
	if len(t.Partitions) == 0 {
		return Table{}, errNoTable
	}
	return t, checkExtents(t, size)
}

var errBadTable = errors.New("invalid partition table")

// readGPT returns nil, nil when LBA 1 has no "EFI PART" signature.
func readGPT(r io.ReaderAt, ss, size int64) (*Table, error) {
	h := make([]byte, ss)
	if _, err := r.ReadAt(h, ss); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("read the GPT header: %w", err)
	}
	if string(h[:8]) != "EFI PART" {
		return nil, nil
	}
	le := binary.LittleEndian
	hsize := int64(le.Uint32(h[12:]))
	if hsize < 92 || hsize > ss {
		return nil, fmt.Errorf("%w: GPT header size %d", errBadTable, hsize)
	}
	c := bytes.Clone(h[:hsize])
	clear(c[16:20])
	if got, want := le.Uint32(h[16:]), crc32.ChecksumIEEE(c); got != want {
		return nil, fmt.Errorf("%w: GPT header CRC is %#08x, want %#08x", errBadTable, got, want)
	}
	firstUse, lastUse := le.Uint64(h[40:]), le.Uint64(h[48:])
	entriesLBA, num, esize := le.Uint64(h[72:]), int64(le.Uint32(h[80:])), int64(le.Uint32(h[84:]))
	if esize < 128 || esize%8 != 0 || num == 0 || num*esize > maxGPTEntryBytes || entriesLBA < 2 || entriesLBA > 1<<40 {
		return nil, fmt.Errorf("%w: GPT has %d entries of %d bytes at LBA %d", errBadTable, num, esize, entriesLBA)
	}
	if firstUse > lastUse {
		return nil, fmt.Errorf("%w: GPT usable LBAs %d-%d", errBadTable, firstUse, lastUse)
	}
	entries := make([]byte, num*esize)
	if _, err := r.ReadAt(entries, int64(entriesLBA)*ss); err != nil {
		return nil, fmt.Errorf("read the GPT entries: %w", err)
	}
	if got, want := le.Uint32(h[88:]), crc32.ChecksumIEEE(entries); got != want {
		return nil, fmt.Errorf("%w: GPT partition entries CRC is %#08x, want %#08x", errBadTable, got, want)
	}
	t := &Table{Kind: TableGPT, SectorSize: int(ss)}
	for i := range num {
		e := entries[i*esize : (i+1)*esize]
		if isZero(e[:16]) {
			continue
		}
		first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
		if first > last || first < firstUse || last > lastUse || last >= 1<<48 {
			return nil, fmt.Errorf("%w: GPT partition %d (LBA %d-%d) lies outside the usable LBAs %d-%d",
				errBadTable, i+1, first, last, firstUse, lastUse)
		}
		t.Partitions = append(t.Partitions, Partition{Number: int(i) + 1, Start: int64(first) * ss,
			Size: int64(last-first+1) * ss, Type: guid(e[:16]), Name: utf16Name(e[56:128])})
	}
	return t, checkExtents(*t, size)
}

// checkExtents refuses overlapping partitions and, when the image size is
// known, partitions that end beyond it.
func checkExtents(t Table, size int64) error {
	ps := slices.Clone(t.Partitions)
	slices.SortFunc(ps, func(a, b Partition) int { return int(min(max(a.Start-b.Start, -1), 1)) })
	for i, p := range ps {
		if p.Start <= 0 {
			return fmt.Errorf("%w: partition %d starts at byte %d", errBadTable, p.Number, p.Start)
		}
		if size > 0 && p.Start+p.Size > size {
			return fmt.Errorf("%w: partition %d ends at byte %d, beyond the image's %d bytes", errBadTable, p.Number, p.Start+p.Size, size)
		}
		if i > 0 && ps[i-1].Start+ps[i-1].Size > p.Start {
			return fmt.Errorf("%w: partitions %d and %d overlap", errBadTable, ps[i-1].Number, p.Number)
		}
	}
	return nil
}

// guid formats a mixed-endian GUID as printed by sgdisk.
func guid(b []byte) string {
	le := binary.LittleEndian
	return strings.ToUpper(fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16]))
}

func utf16Name(b []byte) string {
	var sb strings.Builder
	for i := 0; i+1 < len(b); i += 2 {
		u := rune(binary.LittleEndian.Uint16(b[i:]))
		if u == 0 {
			break
		}
		if u < 0x20 || (u >= 0xd800 && u < 0xe000) {
			u = '?'
		}
		sb.WriteRune(u)
	}
	return sb.String()
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
