package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	mbrSize       = 512
	mbrTableOff   = 446
	mbrEntryLen   = 16
	mbrProtective = 0xee
	// mbrLinux is the type of the partition AddPartition creates on MBR disks.
	mbrLinux = 0x83
)

// ErrNoMBRSlot is returned when all four primary MBR entries are in use.
var ErrNoMBRSlot = errors.New("no free MBR slot: the disk already has four primary partitions")

type mbrEntry struct {
	typ         byte
	start, size uint32 // sectors
}

// readMBR reads sector 0. ok is false when it has no 0x55AA signature.
func readMBR(r io.ReaderAt) (sector []byte, entries [4]mbrEntry, ok bool, err error) {
	sector = make([]byte, mbrSize)
	if _, err := r.ReadAt(sector, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, entries, false, nil
		}
		return nil, entries, false, fmt.Errorf("read MBR: %w", err)
	}
	if sector[510] != 0x55 || sector[511] != 0xaa {
		return sector, entries, false, nil
	}
	for i := range entries {
		e := sector[mbrTableOff+i*mbrEntryLen:]
		entries[i] = mbrEntry{typ: e[4], start: binary.LittleEndian.Uint32(e[8:]), size: binary.LittleEndian.Uint32(e[12:])}
	}
	return sector, entries, true, nil
}

func (e mbrEntry) used() bool { return e.typ != 0 && e.size != 0 }

func (e mbrEntry) end() uint64 { return uint64(e.start) + uint64(e.size) } // first sector after

// validateMBR checks that the primary entries lie on the disk and do not
// overlap. Logical partitions live inside their extended entry, so checking
// the extended entry's extent covers them.
func validateMBR(entries [4]mbrEntry, sectors int64) error {
	for i, e := range entries {
		if !e.used() {
			continue
		}
		if e.typ == mbrProtective {
			return errors.New("MBR is a GPT protective MBR but the disk has no valid GPT")
		}
		if e.start == 0 || e.end() > uint64(sectors) {
			return fmt.Errorf("MBR partition %d (sectors %d-%d) lies outside the disk of %d sectors", i+1, e.start, e.end()-1, sectors)
		}
		for j, o := range entries[:i] {
			if o.used() && uint64(e.start) < o.end() && uint64(o.start) < e.end() {
				return fmt.Errorf("MBR partitions %d and %d overlap", j+1, i+1)
			}
		}
	}
	return nil
}

// addMBR adds a primary partition of the given size (sectors) at the end of
// the disk, below the 2 TiB limit of 32-bit sector numbers.
func addMBR(d device, ss, sectors, want int64) (Partition, error) {
	sector, entries, _, err := readMBR(d)
	if err != nil {
		return Partition{}, err
	}
	if err := validateMBR(entries, sectors); err != nil {
		return Partition{}, err
	}
	slot := -1
	var usedEnd uint64 = 1
	for i, e := range entries {
		if e.used() {
			usedEnd = max(usedEnd, e.end())
		} else if slot < 0 {
			slot = i
		}
	}
	if slot < 0 {
		return Partition{}, ErrNoMBRSlot
	}
	limit := min(sectors, 1<<32)
	start, err := placeAtEnd(ss, int64(usedEnd), limit, want)
	if err != nil {
		return Partition{}, err
	}
	e := sector[mbrTableOff+slot*mbrEntryLen : mbrTableOff+(slot+1)*mbrEntryLen]
	clear(e)
	copy(e[1:4], chs(start))
	e[4] = mbrLinux
	copy(e[5:8], chs(start+want-1))
	binary.LittleEndian.PutUint32(e[8:], uint32(start))
	binary.LittleEndian.PutUint32(e[12:], uint32(want))
	if _, err := d.WriteAt(sector, 0); err != nil {
		return Partition{}, fmt.Errorf("write MBR: %w", err)
	}
	if err := d.Sync(); err != nil {
		return Partition{}, fmt.Errorf("sync the MBR: %w", err)
	}
	return Partition{Number: slot + 1, Start: start * ss, Size: want * ss}, nil
}

// fixProtectiveMBR makes a plain protective MBR (one 0xEE entry from LBA 1)
// cover the whole disk, as the UEFI specification asks. Hybrid MBRs are left
// alone.
func fixProtectiveMBR(d device, sectors int64) error {
	sector, entries, ok, err := readMBR(d)
	if err != nil || !ok {
		return err
	}
	if entries[0].typ != mbrProtective || entries[0].start != 1 || entries[1].used() || entries[2].used() || entries[3].used() {
		return nil
	}
	n := uint32(min(sectors-1, 0xffffffff))
	if entries[0].size == n {
		return nil
	}
	e := sector[mbrTableOff:]
	copy(e[5:8], chs(sectors-1))
	binary.LittleEndian.PutUint32(e[12:], n)
	if _, err := d.WriteAt(sector, 0); err != nil {
		return fmt.Errorf("write protective MBR: %w", err)
	}
	return nil
}

// chs encodes an LBA as a cylinder/head/sector triple for 255 heads and 63
// sectors per track, saturating at 1023/254/63 as partitioning tools do.
func chs(lba int64) []byte {
	const heads, spt = 255, 63
	c, h, s := lba/(heads*spt), (lba/spt)%heads, lba%spt+1
	if c > 1023 {
		c, h, s = 1023, 254, 63
	}
	return []byte{byte(h), byte(s) | byte(c>>8)<<6, byte(c)}
}

// placeAtEnd returns the start sector of a partition of want sectors placed
// as close to limit (exclusive) as 1 MiB alignment allows, after usedEnd.
func placeAtEnd(ss, usedEnd, limit, want int64) (int64, error) {
	align := max(1, (1<<20)/ss)
	start := (limit - want) / align * align
	if want <= 0 || start < usedEnd || start < align {
		return 0, fmt.Errorf("no room for a %d-byte partition at the end of the disk: %d bytes free after the last partition",
			want*ss, max(0, limit-usedEnd)*ss)
	}
	return start, nil
}
