package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	gptSignature   = "EFI PART"
	gptHeaderMin   = 92
	gptMaxEntryLen = 1 << 20 // bytes of partition entries we are willing to read
)

// ErrNoTable is returned by AddPartition for a disk with neither a GPT nor an
// MBR partition table.
var ErrNoTable = errors.New("no partition table")

// gpt is a parsed, validated GUID partition table.
type gpt struct {
	ss         int64  // logical sector size
	header     []byte // the primary header sector as read (keeps disk GUID, reserved bytes)
	headerSize uint32
	altLBA     uint64
	firstUse   uint64
	lastUse    uint64
	entriesLBA uint64
	numEntries uint32
	entrySize  uint32
	entries    []byte
}

type gptPart struct {
	index       int
	first, last uint64
}

// readGPT reads the primary GPT of a disk of the given size in sectors. It
// returns nil, nil when LBA 1 carries no GPT signature, and an error when it
// carries one but the header or entries do not validate.
func readGPT(r io.ReaderAt, ss, sectors int64) (*gpt, error) {
	sec := make([]byte, ss)
	if _, err := r.ReadAt(sec, ss); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("read GPT header: %w", err)
	}
	if string(sec[:8]) != gptSignature {
		return nil, nil
	}
	le := binary.LittleEndian
	g := &gpt{ss: ss, header: sec, headerSize: le.Uint32(sec[12:])}
	if g.headerSize < gptHeaderMin || int64(g.headerSize) > ss {
		return nil, fmt.Errorf("GPT header size %d is invalid", g.headerSize)
	}
	if got, want := le.Uint32(sec[16:]), headerCRC(sec[:g.headerSize]); got != want {
		return nil, fmt.Errorf("GPT header CRC is %#08x, want %#08x", got, want)
	}
	if my := le.Uint64(sec[24:]); my != 1 {
		return nil, fmt.Errorf("GPT primary header says it is at LBA %d, not 1", my)
	}
	g.altLBA, g.firstUse, g.lastUse = le.Uint64(sec[32:]), le.Uint64(sec[40:]), le.Uint64(sec[48:])
	g.entriesLBA, g.numEntries, g.entrySize = le.Uint64(sec[72:]), le.Uint32(sec[80:]), le.Uint32(sec[84:])
	if g.entrySize < 128 || g.entrySize%8 != 0 || g.numEntries == 0 ||
		uint64(g.numEntries)*uint64(g.entrySize) > gptMaxEntryLen {
		return nil, fmt.Errorf("GPT has %d entries of %d bytes: invalid", g.numEntries, g.entrySize)
	}
	entryEnd := g.entriesLBA + uint64(g.entrySectors())
	if g.entriesLBA < 2 || entryEnd > uint64(sectors) || g.firstUse < entryEnd || g.firstUse > g.lastUse {
		return nil, fmt.Errorf("GPT layout is invalid: entries at LBA %d, usable LBAs %d-%d on a disk of %d sectors",
			g.entriesLBA, g.firstUse, g.lastUse, sectors)
	}
	g.entries = make([]byte, int(g.numEntries)*int(g.entrySize))
	if _, err := r.ReadAt(g.entries, int64(g.entriesLBA)*ss); err != nil {
		return nil, fmt.Errorf("read GPT entries: %w", err)
	}
	if got, want := le.Uint32(sec[88:]), crc32.ChecksumIEEE(g.entries); got != want {
		return nil, fmt.Errorf("GPT partition entries CRC is %#08x, want %#08x", got, want)
	}
	parts := g.parts()
	for i, p := range parts {
		if p.first > p.last || p.first < g.firstUse || p.last > g.lastUse {
			return nil, fmt.Errorf("GPT partition %d (LBA %d-%d) lies outside the usable LBAs %d-%d",
				p.index+1, p.first, p.last, g.firstUse, g.lastUse)
		}
		for _, q := range parts[:i] {
			if p.first <= q.last && q.first <= p.last {
				return nil, fmt.Errorf("GPT partitions %d and %d overlap", q.index+1, p.index+1)
			}
		}
	}
	return g, nil
}

func (g *gpt) entrySectors() int64 {
	return (int64(g.numEntries)*int64(g.entrySize) + g.ss - 1) / g.ss
}

func (g *gpt) entry(i int) []byte {
	off := i * int(g.entrySize)
	return g.entries[off : off+int(g.entrySize)]
}

// parts lists the used entries (non-zero type GUID).
func (g *gpt) parts() []gptPart {
	var out []gptPart
	for i := range int(g.numEntries) {
		e := g.entry(i)
		if isZero(e[:16]) {
			continue
		}
		out = append(out, gptPart{index: i, first: binary.LittleEndian.Uint64(e[32:]), last: binary.LittleEndian.Uint64(e[40:])})
	}
	return out
}

// lastUsed is the highest LBA used by a partition, or the end of the primary
// entries when there are no partitions.
func (g *gpt) lastUsed() uint64 {
	end := g.firstUse - 1
	for _, p := range g.parts() {
		end = max(end, p.last)
	}
	return end
}

// relocate moves the backup header and entries to the last sectors of a disk
// of the given size and makes the space before them usable.
func (g *gpt) relocate(sectors int64) error {
	alt := uint64(sectors - 1)
	lastUse := alt - uint64(g.entrySectors()) - 1
	if used := g.lastUsed(); used > lastUse || lastUse < g.firstUse {
		return fmt.Errorf("disk of %d sectors is too small for its GPT: partitions end at LBA %d, last usable LBA would be %d",
			sectors, used, lastUse)
	}
	g.altLBA, g.lastUse = alt, lastUse
	return nil
}

// encode returns the primary and backup header sectors for the current state.
func (g *gpt) encode() (primary, backup []byte) {
	le := binary.LittleEndian
	primary = make([]byte, g.ss)
	copy(primary, g.header[:g.headerSize])
	le.PutUint64(primary[24:], 1)
	le.PutUint64(primary[32:], g.altLBA)
	le.PutUint64(primary[40:], g.firstUse)
	le.PutUint64(primary[48:], g.lastUse)
	le.PutUint64(primary[72:], g.entriesLBA)
	le.PutUint32(primary[88:], crc32.ChecksumIEEE(g.entries))
	backup = bytes.Clone(primary)
	le.PutUint64(backup[24:], g.altLBA)
	le.PutUint64(backup[32:], 1)
	le.PutUint64(backup[72:], g.altLBA-uint64(g.entrySectors()))
	le.PutUint32(primary[16:], headerCRC(primary[:g.headerSize]))
	le.PutUint32(backup[16:], headerCRC(backup[:g.headerSize]))
	return primary, backup
}

// device is what writing a partition table needs of a disk: positioned
// reads and writes, and a flush to stable storage. *os.File is one.
type device interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// write stores the table: the backup entries and header first, synced, and
// only then the primary ones, so that an interruption at any point leaves
// at least one consistent copy (without the sync, the kernel may write the
// primary header to the disk before the backup). It then updates a plain
// protective MBR to cover the disk and syncs again.
func (g *gpt) write(d device, sectors int64) error {
	primary, backup := g.encode()
	backupEntriesLBA := int64(g.altLBA) - g.entrySectors()
	if err := g.writeCopy(d, "backup", g.paddedEntries(), backupEntriesLBA, backup, int64(g.altLBA)); err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync the backup GPT: %w", err)
	}
	if err := g.writeCopy(d, "primary", g.paddedEntries(), int64(g.entriesLBA), primary, 1); err != nil {
		return err
	}
	if err := fixProtectiveMBR(d, sectors); err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync the primary GPT: %w", err)
	}
	return nil
}

// writeCopy writes one copy of the table: its entries, then its header.
func (g *gpt) writeCopy(d device, which string, entries []byte, entriesLBA int64, header []byte, headerLBA int64) error {
	if _, err := d.WriteAt(entries, entriesLBA*g.ss); err != nil {
		return fmt.Errorf("write %s GPT entries at LBA %d: %w", which, entriesLBA, err)
	}
	if _, err := d.WriteAt(header, headerLBA*g.ss); err != nil {
		return fmt.Errorf("write %s GPT header at LBA %d: %w", which, headerLBA, err)
	}
	return nil
}

func (g *gpt) paddedEntries() []byte {
	b := make([]byte, g.entrySectors()*g.ss)
	copy(b, g.entries)
	return b
}

// headerCRC is the CRC32 of a header with its own CRC field taken as zero.
func headerCRC(h []byte) uint32 {
	c := bytes.Clone(h)
	binary.LittleEndian.PutUint32(c[16:], 0)
	return crc32.ChecksumIEEE(c)
}
