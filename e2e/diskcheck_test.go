package e2e

import (
	"bytes"
	"encoding/binary"
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
// last sector, and the config drive is the last partition.
func checkWrittenDisk(t *testing.T, diskPath, rawPath string) {
	t.Helper()
	img, err := os.ReadFile(rawPath)
	if err != nil {
		t.Fatal(err)
	}
	disk, err := os.ReadFile(diskPath)
	if err != nil {
		t.Fatal(err)
	}
	// The protective MBR's partition entry is stretched to the new disk
	// size: compare its boot code only.
	if !bytes.Equal(disk[:446], img[:446]) {
		t.Errorf("MBR boot code differs from the image")
	}
	gptArea := 34 * sector
	skip := func(off int) bool {
		return off < gptArea || off >= len(img)-33*sector
	}
	for off := 0; off < len(img); off += sector {
		if skip(off) {
			continue
		}
		if !bytes.Equal(disk[off:off+sector], img[off:off+sector]) {
			t.Fatalf("disk differs from the image at byte %d (sector %d)", off, off/sector)
		}
	}
	out, err := exec.Command("sgdisk", "-v", diskPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
	hdr := disk[sector : 2*sector]
	if string(hdr[:8]) != "EFI PART" {
		t.Fatalf("no primary GPT header")
	}
	lastLBA := uint64(len(disk)/sector - 1)
	if alt := binary.LittleEndian.Uint64(hdr[32:]); alt != lastLBA {
		t.Errorf("primary header's backup LBA = %d, want the last sector %d", alt, lastLBA)
	}
	if string(disk[lastLBA*sector:lastLBA*sector+8]) != "EFI PART" {
		t.Errorf("no backup GPT header at the last sector")
	}
	entriesLBA := binary.LittleEndian.Uint64(hdr[72:])
	n := binary.LittleEndian.Uint32(hdr[80:])
	size := binary.LittleEndian.Uint32(hdr[84:])
	var lastStart uint64
	var count int
	for i := uint32(0); i < n; i++ {
		e := disk[entriesLBA*sector+uint64(i*size):][:size]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		count++
		if s := binary.LittleEndian.Uint64(e[32:]); s > lastStart {
			lastStart = s
		}
	}
	if count != 2 {
		t.Errorf("GPT has %d partitions, want the ESP and the config drive", count)
	}
	pvd := disk[lastStart*sector+0x8000:][:2048]
	if string(pvd[1:6]) != "CD001" || strings.TrimSpace(string(pvd[40:72])) != "config-2" {
		t.Errorf("last partition (at LBA %d) is not an ISO9660 filesystem labelled config-2", lastStart)
	}
}
