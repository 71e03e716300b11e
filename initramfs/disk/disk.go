// Package disk finds the installer's target disk and edits its partition
// table after an image has been written to it.
//
// Discovery reads sysfs (never udev, which the initramfs does not run):
//
//	disks, err := disk.List("", "")            // /sys and /dev
//	d, err := disk.Select(disks, task.Disk)    // hints, else first non-removable
//
// After the image is on the disk:
//
//	f, _ := os.OpenFile(d.Path, os.O_RDWR, 0)
//	disk.Reread(f)                             // kernel sees the image's table
//	disk.FixGPT(f, d.LogicalSectorSize)        // backup GPT to the real end
//	p, err := disk.AddPartition(f, d.LogicalSectorSize, len(img), "config-2")
//	f.WriteAt(img, p.Start)
//
// The GPT and MBR code is the package's own: every table is parsed and
// validated (signatures, CRCs, bounds, overlaps) before anything is written,
// the new table is built completely in memory, and a disk whose table does
// not validate is refused rather than "repaired".
package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/byoi/byoi/boot"
)

// Disk is a whole block device as sysfs describes it.
type Disk struct {
	Name              string   // kernel name, e.g. sda, nvme0n1
	Path              string   // device node, e.g. /dev/sda
	Size              int64    // bytes
	LogicalSectorSize int      // bytes, 512 or 4096
	Serial            string   // device serial number, trimmed
	WWN               string   // world wide name as sysfs gives it (naa.…, eui.…)
	Model             string   // trimmed model string
	Removable         bool     // the kernel's removable flag (USB sticks, card readers)
	ReadOnly          bool     // the kernel's ro flag
	ByPath            []string // /dev/disk/by-path links that point at the disk
}

// ErrNoDisk is returned by Select when no disk satisfies the hints.
var ErrNoDisk = errors.New("no suitable disk")

// skipped are name prefixes of virtual or optical block devices that are
// never installation targets.
var skipped = []string{"loop", "ram", "zram", "sr", "dm-", "md", "fd", "nbd", "zd"}

// List returns the whole disks under sysRoot/block ("" means /sys), with
// device nodes under devRoot ("" means /dev), sorted in a stable natural
// order (sda, sdb, …, sdz, sdaa; nvme0n1, nvme1n1, …, nvme10n1). Virtual
// devices (loop, ram, zram, sr, dm, md, …), partitions and zero-size devices
// are left out; removable disks are listed with Removable set, so that an
// explicit hint can still pick one while Select's default skips them.
func List(sysRoot, devRoot string) ([]Disk, error) {
	if sysRoot == "" {
		sysRoot = "/sys"
	}
	if devRoot == "" {
		devRoot = "/dev"
	}
	blockDir := filepath.Join(sysRoot, "block")
	entries, err := os.ReadDir(blockDir)
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	byPath := byPathLinks(devRoot)
	var disks []Disk
	for _, e := range entries {
		name := e.Name()
		if isSkipped(name) {
			continue
		}
		dir := filepath.Join(blockDir, name)
		if exists(filepath.Join(dir, "partition")) {
			continue
		}
		sectors, err := readInt(filepath.Join(dir, "size"))
		if err != nil || sectors <= 0 {
			continue
		}
		d := Disk{
			Name:              name,
			Path:              filepath.Join(devRoot, name),
			Size:              sectors * 512, // sysfs size is always in 512-byte units
			LogicalSectorSize: 512,
			Serial:            firstNonEmpty(readTrim(dir, "device/serial"), readTrim(dir, "serial"), vpdSerial(dir)),
			WWN:               firstNonEmpty(readTrim(dir, "device/wwid"), readTrim(dir, "wwid"), readTrim(dir, "device/wwn")),
			Model:             readTrim(dir, "device/model"),
			Removable:         readTrim(dir, "removable") == "1",
			ReadOnly:          readTrim(dir, "ro") == "1",
			ByPath:            byPath[name],
		}
		if n, err := readInt(filepath.Join(dir, "queue/logical_block_size")); err == nil && n >= 512 {
			d.LogicalSectorSize = int(n)
		}
		disks = append(disks, d)
	}
	sortNatural(disks)
	return disks, nil
}

// Select returns the first disk that matches every set hint. A Path hint may
// name the device node or any symlink to it (/dev/disk/by-path/…, by-id/…).
// With no hints it returns the first disk that is neither removable nor
// read-only. A read-only disk is never selected.
func Select(disks []Disk, h boot.DiskHints) (Disk, error) {
	if h == (boot.DiskHints{}) {
		for _, d := range disks {
			if !d.Removable && !d.ReadOnly {
				return d, nil
			}
		}
		return Disk{}, fmt.Errorf("%w: none of %d disks is a writable, non-removable disk", ErrNoDisk, len(disks))
	}
	for _, d := range disks {
		if !d.ReadOnly && matches(d, h) {
			return d, nil
		}
	}
	return Disk{}, fmt.Errorf("%w: none of %d disks matches %s", ErrNoDisk, len(disks), describeHints(h))
}

func matches(d Disk, h boot.DiskHints) bool {
	if h.Path != "" && !pathMatches(d, h.Path) {
		return false
	}
	if h.Serial != "" && !strings.EqualFold(strings.TrimSpace(h.Serial), d.Serial) {
		return false
	}
	if h.WWN != "" && (d.WWN == "" || normalizeWWN(h.WWN) != normalizeWWN(d.WWN)) {
		return false
	}
	if h.MinSize > 0 && d.Size < h.MinSize {
		return false
	}
	if h.MaxSize > 0 && d.Size > h.MaxSize {
		return false
	}
	return true
}

func pathMatches(d Disk, p string) bool {
	if !strings.Contains(p, "/") {
		return p == d.Name // a bare kernel name such as "sda"
	}
	p = filepath.Clean(p)
	if p == d.Path || slices.Contains(d.ByPath, p) {
		return true
	}
	target, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	self, err := filepath.EvalSymlinks(d.Path)
	return err == nil && target == self
}

// normalizeWWN makes "naa.5000C500A1B2C3D4", "0x5000c500a1b2c3d4" and
// "5000c500a1b2c3d4" compare equal.
func normalizeWWN(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"naa.", "eui.", "0x", "wwn-0x"} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

func describeHints(h boot.DiskHints) string {
	var parts []string
	if h.Path != "" {
		parts = append(parts, "path "+h.Path)
	}
	if h.Serial != "" {
		parts = append(parts, "serial "+h.Serial)
	}
	if h.WWN != "" {
		parts = append(parts, "wwn "+h.WWN)
	}
	if h.MinSize > 0 {
		parts = append(parts, "size >= "+strconv.FormatInt(h.MinSize, 10))
	}
	if h.MaxSize > 0 {
		parts = append(parts, "size <= "+strconv.FormatInt(h.MaxSize, 10))
	}
	return strings.Join(parts, ", ")
}

func isSkipped(name string) bool {
	for _, p := range skipped {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
