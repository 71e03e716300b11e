package e2e

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const sector = 512

// checkWrittenDisk is flow 5: the disk written by the installer equals the
// raw image over the image's size (except the GPT structures the installer
// rewrites by design: the primary header and entries, and the image's old
// backup area), the GPT verifies clean with the backup header at the disk's
// last sector, and the config drive is the last of imageParts+1 partitions.
// Both files are compared a MiB at a time: images may be larger than RAM.
func checkWrittenDisk(t *testing.T, diskPath, rawPath string, imageParts int) {
	t.Helper()
	img, err := os.Open(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	disk, err := os.Open(diskPath)
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	st, err := img.Stat()
	if err != nil {
		t.Fatal(err)
	}
	imgSize := st.Size()
	read := func(f *os.File, off, n int64) []byte {
		t.Helper()
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
			t.Fatalf("reading %s at %d: %v", f.Name(), off, err)
		}
		return b
	}
	// The protective MBR's partition entry is stretched to the new disk
	// size: compare its boot code only.
	if !bytes.Equal(read(disk, 0, 446), read(img, 0, 446)) {
		t.Errorf("MBR boot code differs from the image")
	}
	from, to := int64(34*sector), imgSize-33*sector // GPT areas excluded
	const chunk = 1 << 20
	for off := from; off < to; off += chunk {
		n := min(chunk, to-off)
		d, i := read(disk, off, n), read(img, off, n)
		if !bytes.Equal(d, i) {
			for s := int64(0); s < n; s += sector {
				if !bytes.Equal(d[s:s+sector], i[s:s+sector]) {
					t.Fatalf("disk differs from the image at byte %d (sector %d)", off+s, (off+s)/sector)
				}
			}
		}
	}
	out, err := exec.Command("sgdisk", "-v", diskPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
	hdr := read(disk, sector, sector)
	if string(hdr[:8]) != "EFI PART" {
		t.Fatalf("no primary GPT header")
	}
	dst, err := disk.Stat()
	if err != nil {
		t.Fatal(err)
	}
	lastLBA := uint64(dst.Size()/sector - 1)
	if alt := binary.LittleEndian.Uint64(hdr[32:]); alt != lastLBA {
		t.Errorf("primary header's backup LBA = %d, want the last sector %d", alt, lastLBA)
	}
	if string(read(disk, int64(lastLBA*sector), 8)) != "EFI PART" {
		t.Errorf("no backup GPT header at the last sector")
	}
	entriesLBA := binary.LittleEndian.Uint64(hdr[72:])
	n := binary.LittleEndian.Uint32(hdr[80:])
	size := binary.LittleEndian.Uint32(hdr[84:])
	entries := read(disk, int64(entriesLBA*sector), int64(n)*int64(size))
	var lastStart uint64
	var count int
	for i := uint32(0); i < n; i++ {
		e := entries[i*size:][:size]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		count++
		if s := binary.LittleEndian.Uint64(e[32:]); s > lastStart {
			lastStart = s
		}
	}
	if count != imageParts+1 {
		t.Errorf("GPT has %d partitions, want the image's %d and the config drive", count, imageParts)
	}
	pvd := read(disk, int64(lastStart*sector+0x8000), 2048)
	if string(pvd[1:6]) != "CD001" || strings.TrimSpace(string(pvd[40:72])) != "config-2" {
		t.Errorf("last partition (at LBA %d) is not an ISO9660 filesystem labelled config-2", lastStart)
	}
}
