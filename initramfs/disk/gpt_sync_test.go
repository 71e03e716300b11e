package disk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"testing"
)

// diskOp is one call a table writer made: a write, or a sync.
type diskOp struct {
	sync bool
	off  int64
	data []byte
}

func (o diskOp) String() string {
	if o.sync {
		return "sync"
	}
	return fmt.Sprintf("write %d bytes at %d", len(o.data), o.off)
}

// recorder is a disk in memory that records every write and sync in order.
type recorder struct {
	img []byte
	ops []diskOp
}

func (r *recorder) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(r.img)) {
		return 0, io.EOF
	}
	n := copy(p, r.img[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *recorder) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(r.img)) {
		return 0, fmt.Errorf("write of %d bytes at %d beyond the %d-byte disk", len(p), off, len(r.img))
	}
	copy(r.img[off:], p)
	r.ops = append(r.ops, diskOp{off: off, data: bytes.Clone(p)})
	return len(p), nil
}

func (r *recorder) Sync() error {
	r.ops = append(r.ops, diskOp{sync: true})
	return nil
}

// overlay is what a disk holds after a crash: base with some writes applied
// in order.
type overlay struct {
	base   []byte
	writes []diskOp
}

func (o overlay) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(o.base)) {
		return 0, io.EOF
	}
	n := copy(p, o.base[off:])
	for _, w := range o.writes {
		lo, hi := max(off, w.off), min(off+int64(n), w.off+int64(len(w.data)))
		if lo < hi {
			copy(p[lo-off:hi-off], w.data[lo-w.off:hi-w.off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// gptWriteCase is one table change on a 512-byte-sector disk image made by
// sgdisk: the image before, and the change to apply to a device.
type gptWriteCase struct {
	name   string
	size   int64 // bytes of the disk after growing it
	change func(d device, sectors int64) error
}

func gptWriteCases() []gptWriteCase {
	add := func(d device, sectors int64) error {
		g, err := readGPT(d, 512, sectors)
		if err != nil || g == nil {
			return fmt.Errorf("readGPT = %v, %v", g, err)
		}
		_, err = addGPT(d, g, sectors, 2048, "config-2")
		return err
	}
	return []gptWriteCase{
		{"FixGPT on a grown disk", 24 * mib, func(d device, sectors int64) error {
			_, err := fixGPT(d, 512, sectors)
			return err
		}},
		{"add a partition", 12 * mib, add},
		{"add a partition on a grown disk", 24 * mib, add},
	}
}

// recordChange makes the case's image and applies its change to a
// recorder; it returns the image before and the recorder after.
func recordChange(t *testing.T, tc gptWriteCase) (before []byte, r *recorder) {
	t.Helper()
	p := makeGPT(t, 512, 12*mib, 4)
	grow(t, p, tc.size)
	before, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	r = &recorder{img: bytes.Clone(before)}
	if err := tc.change(r, tc.size/512); err != nil {
		t.Fatal(err)
	}
	return before, r
}

// TestGPTBackupSyncedBeforePrimary checks the order of the table writes:
// every write to the primary header or entries comes after a sync that
// follows the last write of the backup copy, and the writer ends synced.
func TestGPTBackupSyncedBeforePrimary(t *testing.T) {
	for _, tc := range gptWriteCases() {
		t.Run(tc.name, func(t *testing.T) {
			_, r := recordChange(t, tc)
			g, err := readGPT(bytes.NewReader(r.img), 512, tc.size/512)
			if err != nil || g == nil {
				t.Fatalf("readGPT after the change = %v, %v", g, err)
			}
			primaryEnd := int64(g.entriesLBA+uint64(g.entrySectors())) * 512
			backupStart := (int64(g.altLBA) - g.entrySectors()) * 512
			lastBackup, syncedAt := -1, -1
			for i, op := range r.ops {
				switch {
				case op.sync:
					if lastBackup >= 0 && syncedAt < lastBackup {
						syncedAt = i
					}
				case op.off >= backupStart && op.off < int64(g.altLBA+1)*512:
					lastBackup = i
				case op.off >= 512 && op.off < primaryEnd:
					if lastBackup < 0 || syncedAt < lastBackup {
						t.Fatalf("op %d (%v) writes the primary GPT before the backup is synced; ops:\n%s", i, op, opList(r.ops))
					}
				}
			}
			if lastBackup < 0 {
				t.Fatalf("no write of the backup GPT; ops:\n%s", opList(r.ops))
			}
			if n := len(r.ops); n == 0 || !r.ops[n-1].sync {
				t.Errorf("the writer returned with unsynced writes; ops:\n%s", opList(r.ops))
			}
		})
	}
}

// TestGPTCrashLeavesOneCopy cuts the writes at every point and lets any
// subset of the writes made since the last sync reach the disk (the kernel
// may write back in any order): the disk must always hold a valid primary
// or a valid backup at its last sector, with the old or the new entries.
func TestGPTCrashLeavesOneCopy(t *testing.T) {
	for _, tc := range gptWriteCases() {
		t.Run(tc.name, func(t *testing.T) {
			before, r := recordChange(t, tc)
			sectors := tc.size / 512
			oldG, err := readGPT(bytes.NewReader(before), 512, sectors)
			if err != nil || oldG == nil {
				t.Fatalf("readGPT before = %v, %v", oldG, err)
			}
			newG, err := readGPT(bytes.NewReader(r.img), 512, sectors)
			if err != nil || newG == nil {
				t.Fatalf("readGPT after = %v, %v", newG, err)
			}
			for cut := 0; cut <= len(r.ops); cut++ {
				var durable, pending []diskOp
				for _, op := range r.ops[:cut] {
					if op.sync {
						durable, pending = append(durable, pending...), nil
					} else {
						pending = append(pending, op)
					}
				}
				if len(pending) > 12 {
					t.Fatalf("%d unsynced writes at op %d: too many subsets to try", len(pending), cut)
				}
				for mask := 0; mask < 1<<len(pending); mask++ {
					landed := append([]diskOp(nil), durable...)
					for j, op := range pending {
						if mask&(1<<j) != 0 {
							landed = append(landed, op)
						}
					}
					disk := overlay{base: before, writes: landed}
					if !oneValidCopy(disk, sectors, oldG.entries, newG.entries) {
						t.Fatalf("a crash after op %d, with unsynced writes %b landed, leaves no valid GPT; ops:\n%s", cut, mask, opList(r.ops))
					}
				}
			}
		})
	}
}

// oneValidCopy reports whether d holds a valid primary GPT, or else a valid
// backup at its last sector (where firmware looks when the primary is
// broken), whose entries are either old or new.
func oneValidCopy(d io.ReaderAt, sectors int64, old, new []byte) bool {
	known := func(e []byte) bool { return bytes.Equal(e, old) || bytes.Equal(e, new) }
	if g, err := readGPT(d, 512, sectors); err == nil && g != nil {
		return known(g.entries)
	}
	e, ok := backupEntries(d, sectors)
	return ok && known(e)
}

// backupEntries validates the backup header at the last sector of d (512-byte
// sectors) and returns its entries.
func backupEntries(d io.ReaderAt, sectors int64) ([]byte, bool) {
	le := binary.LittleEndian
	last := sectors - 1
	h := make([]byte, 512)
	if _, err := d.ReadAt(h, last*512); err != nil || string(h[:8]) != gptSignature {
		return nil, false
	}
	size := le.Uint32(h[12:])
	if size < gptHeaderMin || size > 512 || le.Uint32(h[16:]) != headerCRC(h[:size]) || le.Uint64(h[24:]) != uint64(last) {
		return nil, false
	}
	lba, n := int64(le.Uint64(h[72:])), int64(le.Uint32(h[80:]))*int64(le.Uint32(h[84:]))
	if n <= 0 || n > gptMaxEntryLen || lba < 2 || lba*512+n > last*512 {
		return nil, false
	}
	e := make([]byte, n)
	if _, err := d.ReadAt(e, lba*512); err != nil || crc32.ChecksumIEEE(e) != le.Uint32(h[88:]) {
		return nil, false
	}
	return e, true
}

func opList(ops []diskOp) string {
	var b strings.Builder
	for i, op := range ops {
		fmt.Fprintf(&b, "  %d. %v\n", i, op)
	}
	return b.String()
}
