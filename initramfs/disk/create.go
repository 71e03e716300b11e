package disk

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"unicode/utf16"
)

// GPT partition types BYOLinux uses.
const (
	TypeESP       = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" // EFI system partition
	TypeBIOSBoot  = "21686148-6449-6E6F-744E-656564454649" // GRUB's core image on legacy machines
	TypeLinuxRAID = "A19D880F-05FC-4D3B-A006-743F0F84911E"
	TypeLinuxLVM  = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
	TypeLinuxSwap = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
	TypeLinuxFS   = LinuxFilesystemGUID
)

// NewPartition is one partition of a table CreateGPT writes. Start and
// Size are bytes, multiples of the sector size.
type NewPartition struct {
	Start, Size int64
	Type        string // GUID, e.g. TypeESP
	Name        string // at most 36 UTF-16 units
}

// gptEntries is the number of entries of a new GPT (the usual 128).
const gptEntries = 128

// CreateGPT replaces whatever table f has with a new GPT holding parts (a
// protective MBR without boot code, primary and backup headers, 128
// entries, random disk and partition GUIDs), then asks the kernel to
// re-read it. Partitions must lie between the first and last usable LBAs
// (34 and the disk's end minus 34 with 512-byte sectors) without
// overlapping; nothing is written otherwise.
func CreateGPT(f *os.File, sectorSize int, parts []NewPartition) ([]Partition, error) {
	ss, sectors, err := geometry(f, sectorSize)
	if err != nil {
		return nil, err
	}
	g := &gpt{ss: ss, headerSize: gptHeaderMin, numEntries: gptEntries, entrySize: 128, entriesLBA: 2}
	g.entries = make([]byte, gptEntries*128)
	g.firstUse = 2 + uint64(g.entrySectors())
	if err := g.relocate(sectors); err != nil {
		return nil, err
	}
	if len(parts) > gptEntries {
		return nil, fmt.Errorf("create GPT: %d partitions, at most %d", len(parts), gptEntries)
	}
	out := make([]Partition, len(parts))
	for i, p := range parts {
		first, last := p.Start/ss, (p.Start+p.Size)/ss-1
		if p.Start%ss != 0 || p.Size%ss != 0 || p.Size <= 0 || first < int64(g.firstUse) || last > int64(g.lastUse) {
			return nil, fmt.Errorf("create GPT: partition %d (%d bytes at %d) is not within the usable sectors %d-%d of %d bytes",
				i+1, p.Size, p.Start, g.firstUse, g.lastUse, ss)
		}
		for j, q := range parts[:i] {
			if p.Start < q.Start+q.Size && q.Start < p.Start+p.Size {
				return nil, fmt.Errorf("create GPT: partitions %d and %d overlap", j+1, i+1)
			}
		}
		typ, err := parseGUID(p.Type)
		if err != nil {
			return nil, fmt.Errorf("create GPT: partition %d: %w", i+1, err)
		}
		name := utf16.Encode([]rune(p.Name))
		if len(name) > 36 {
			return nil, fmt.Errorf("create GPT: partition name %q is longer than 36 UTF-16 units", p.Name)
		}
		e := g.entry(i)
		copy(e[0:16], typ[:])
		if err := randomGUID(e[16:32]); err != nil {
			return nil, err
		}
		binary.LittleEndian.PutUint64(e[32:], uint64(first))
		binary.LittleEndian.PutUint64(e[40:], uint64(last))
		for k, u := range name {
			binary.LittleEndian.PutUint16(e[56+2*k:], u)
		}
		out[i] = Partition{Number: i + 1, Start: p.Start, Size: p.Size}
	}
	g.header = make([]byte, ss)
	copy(g.header, gptSignature)
	binary.LittleEndian.PutUint32(g.header[8:], 0x00010000) // revision 1.0
	binary.LittleEndian.PutUint32(g.header[12:], gptHeaderMin)
	if err := randomGUID(g.header[56:72]); err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint32(g.header[80:], gptEntries)
	binary.LittleEndian.PutUint32(g.header[84:], 128)
	// A fresh protective MBR: one 0xEE entry over the whole disk.
	mbr := make([]byte, ss)
	e := mbr[mbrTableOff:]
	copy(e[1:4], chs(1))
	e[4] = mbrProtective
	copy(e[5:8], chs(sectors-1))
	binary.LittleEndian.PutUint32(e[8:], 1)
	binary.LittleEndian.PutUint32(e[12:], uint32(min(sectors-1, 0xffffffff)))
	mbr[510], mbr[511] = 0x55, 0xaa
	if _, err := f.WriteAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("write protective MBR: %w", err)
	}
	if err := g.write(f, sectors); err != nil {
		return nil, err
	}
	return out, Reread(f)
}

// randomGUID fills b (16 bytes) with a version 4 GUID in GPT byte order.
func randomGUID(b []byte) error {
	if _, err := rand.Read(b[:16]); err != nil {
		return fmt.Errorf("random GUID: %w", err)
	}
	b[7] = b[7]&0x0f | 0x40 // version 4 (high byte of the third, little-endian field)
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return nil
}
