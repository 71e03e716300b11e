// Package storage turns a BYOLinux layout (boot.Partitioning) into disks
// ready for the image's files: a GPT on every disk of the group, Linux
// software RAID arrays (mdadm), an LVM volume group with its logical
// volumes, file systems (mkfs.*), all mounted under a target root by mount
// point. It also writes what the installed system needs to find them:
// /etc/fstab (by UUID) and mdadm.conf.
//
// Planning is pure and checked before any disk is touched:
//
//	plan, err := storage.NewPlan(spec.Partitioning, disks, storage.Options{UEFI: uefi, ConfigDrive: 1 << 20})
//	// err: *storage.LayoutError (the request does not fit these disks)
//	m, err := storage.Apply(ctx, plan, "/run/byoi/target", storage.Exec{})
//	defer m.Unmount()
//
// Layout rules (like OVH's): every entry of the layout spans all the disks
// used; with two disks or more each entry is one partition per disk
// assembled into an md array of the entry's RAID level (the EFI system
// partition in RAID1 with metadata 1.0, at the end of the members, so that
// firmware reads each member as a plain FAT; everything else metadata 1.2);
// with one disk there is no RAID. An entry's size is what the file system
// gets: member partitions are sized for the level (RAID0 size/n, RAID5
// size/(n-1), RAID6 size/(n-2), RAID10 2·size/n). Entries with extras.lv
// are logical volumes of one volume group "vg" on one partition (or array)
// placed where the first of them is in the layout. Size 0 takes what is
// left. Legacy machines get a 1 MiB BIOS boot partition first on every
// disk, for GRUB. The config drive's partition is reserved at the end of
// the first disk. Partitions are 1 MiB aligned.
package storage

import (
	"crypto/rand"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/disk"
)

const mib = 1 << 20

// Disk is one disk of the group.
type Disk struct {
	Path       string // e.g. /dev/vda
	Size       int64  // bytes
	SectorSize int    // logical sector size, 512 or 4096
}

// Options say what the installer learned from the machine.
type Options struct {
	// UEFI is true when the machine booted the installer through UEFI.
	UEFI bool
	// ConfigDrive is the size in bytes of the config drive partition to
	// reserve at the end of the first disk; 0 reserves none.
	ConfigDrive int64
	// Rand supplies UUIDs (crypto/rand when nil); tests make it fixed.
	Rand io.Reader
}

// Plan is everything Apply will create.
type Plan struct {
	UEFI        bool
	Disks       []DiskPlan
	Arrays      []Array
	VG          *VolumeGroup
	FileSystems []FileSystem // in mount order; swap areas last
	// ConfigDrive is the config-2 partition, nil when none was reserved.
	ConfigDrive *Part
}

// DiskPlan is one disk's new partition table.
type DiskPlan struct {
	Disk
	Parts []Part
}

// Part is one partition of a DiskPlan.
type Part struct {
	disk.NewPartition
	Number int
	Device string // e.g. /dev/vda2, /dev/nvme0n1p2
}

// Array is one md array.
type Array struct {
	Device   string // /dev/mdN in the installer
	Name     string // stored in the superblock: /dev/md/NAME on the installed system
	Level    int
	Metadata string // "1.0" or "1.2"
	Members  []string
}

// VolumeGroup is the LVM volume group of the logical volumes.
type VolumeGroup struct {
	Name string
	PV   string // the partition or array it lives on
	LVs  []LV   // fixed sizes first, the one taking the rest last
}

// LV is one logical volume.
type LV struct {
	Name   string
	Size   int64 // bytes, 0: the rest of the group
	Device string
}

// FileSystem is one mkfs and mount.
type FileSystem struct {
	MountPoint string // absolute, or "swap"
	Type       string // ext4, xfs, btrfs, vfat, swap
	Device     string
	UUID       string // as fstab and blkid show it (vfat: XXXX-XXXX)
	Size       int64  // bytes the file system gets (approximately, before RAID metadata)
}

// LayoutError is a layout that cannot be applied to these disks or this
// firmware; its message is for the customer.
type LayoutError struct{ Msg string }

func (e *LayoutError) Error() string { return e.Msg }

func layoutErr(format string, a ...any) error {
	return &LayoutError{Msg: fmt.Sprintf(format, a...)}
}

// slot is one partition of every disk used, before placement.
type slot struct {
	name   string
	typ    string // GPT type without RAID
	entry  *boot.LayoutEntry
	lvm    bool
	bios   bool
	usable int64 // bytes the fs/PV needs; 0: the rest
	min    int64 // bytes a rest slot needs at least
	member int64 // bytes per disk, set by place
}

// NewPlan plans layout p (or the default one) on disks, of which it uses
// the first p.Disks (all when 0). It checks everything that can be known
// before touching a disk: RAID levels for the disk count, the ESP on UEFI,
// sizes against the smallest disk.
func NewPlan(p boot.Partitioning, disks []Disk, o Options) (*Plan, error) {
	if p.Disks > len(disks) {
		return nil, layoutErr("The partitioning asks for %d disks, but the disk group has %d", p.Disks, len(disks))
	}
	if p.Disks > 0 {
		disks = disks[:p.Disks]
	}
	if err := p.Validate(); err != nil {
		return nil, &LayoutError{Msg: err.Error()}
	}
	if err := p.CheckFor(o.UEFI, len(disks)); err != nil {
		return nil, &LayoutError{Msg: err.Error()}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	layout := p.EffectiveLayout(o.UEFI)
	n := len(disks)
	slots, err := makeSlots(layout, o.UEFI, n)
	if err != nil {
		return nil, err
	}
	if err := place(slots, disks, o.ConfigDrive); err != nil {
		return nil, err
	}
	pl := &Plan{UEFI: o.UEFI}
	return pl, pl.build(slots, layout, disks, o)
}

// makeSlots lists the partitions each disk gets, in order.
func makeSlots(layout []boot.LayoutEntry, uefi bool, n int) ([]*slot, error) {
	var slots []*slot
	if !uefi {
		slots = append(slots, &slot{name: "bios", typ: disk.TypeBIOSBoot, bios: true, usable: mib, member: mib})
	}
	var pv *slot
	for i := range layout {
		e := &layout[i]
		if e.LV() != "" {
			if pv == nil {
				pv = &slot{name: "lvm", typ: disk.TypeLinuxLVM, entry: e, lvm: true}
				slots = append(slots, pv)
			}
			if e.Size == 0 {
				pv.usable = -1 // the rest
			} else {
				pv.min += lvSize(e.Size)
				if pv.usable >= 0 {
					pv.usable += lvSize(e.Size)
				}
			}
			continue
		}
		s := &slot{name: slotName(e.MountPoint), typ: disk.TypeLinuxFS, entry: e, usable: e.Size * mib}
		switch e.FileSystem {
		case boot.FSVFAT:
			s.typ = disk.TypeESP
		case boot.FSSwap:
			s.typ = disk.TypeLinuxSwap
		}
		slots = append(slots, s)
	}
	if pv != nil {
		pv.min += 8 * mib // LVM metadata, and one extent for the rest
		if pv.usable < 0 {
			pv.usable = 0
		} else {
			pv.usable += 4 * mib // LVM metadata
		}
	}
	names := map[string]int{}
	for _, s := range slots {
		if names[s.name]++; names[s.name] > 1 {
			s.name += strconv.Itoa(names[s.name])
		}
	}
	return slots, nil
}

// lvSize is a logical volume's size rounded up to whole 4 MiB extents.
func lvSize(sizeMiB int64) int64 { return (sizeMiB + 3) / 4 * 4 * mib }

// slotName names a partition (GPT name, md array name) after its mount
// point: / → root, /boot/efi → efi, /var/log → var-log, swap → swap.
func slotName(mp string) string {
	switch mp {
	case boot.MountRoot:
		return "root"
	case boot.MountESP:
		return "efi"
	}
	s := strings.ReplaceAll(strings.Trim(mp, "/"), "/", "-")
	if len(s) > 24 {
		s = s[:24]
	}
	return s
}

// memberSize is the bytes each of n disks gives an array of level whose
// usable size is usable.
func memberSize(usable int64, level, n int) int64 {
	if n < 2 {
		return usable
	}
	div := func(a, b int64) int64 { return (a + b - 1) / b }
	switch level {
	case 0:
		return div(usable, int64(n))
	case 5:
		return div(usable, int64(n-1))
	case 6:
		return div(usable, int64(n-2))
	case 10:
		return div(2*usable, int64(n))
	}
	return usable // RAID1
}

// usableSize is the inverse of memberSize.
func usableSize(member int64, level, n int) int64 {
	if n < 2 {
		return member
	}
	switch level {
	case 0:
		return member * int64(n)
	case 5:
		return member * int64(n-1)
	case 6:
		return member * int64(n-2)
	case 10:
		return member * int64(n) / 2
	}
	return member
}

// place sizes every slot per disk: fixed ones from their size, the rest
// from what the smallest disk has left (the first disk also holds the
// config drive).
func place(slots []*slot, disks []Disk, configDrive int64) error {
	n := len(disks)
	avail := int64(-1)
	var smallest Disk
	for i, d := range disks {
		a := d.Size/mib*mib - 2*mib // 1 MiB before the first partition, 1 MiB for the backup GPT
		if i == 0 && configDrive > 0 {
			a -= (configDrive + mib - 1) / mib * mib
		}
		if avail < 0 || a < avail {
			avail, smallest = a, d
		}
	}
	var fixed int64
	var rest *slot
	for _, s := range slots {
		if s.usable == 0 {
			rest = s
			continue
		}
		if !s.bios {
			s.member = roundMiB(memberSize(s.usable, s.level(), n))
		}
		fixed += s.member
	}
	if fixed > avail || (rest != nil && avail-fixed < mib) {
		need := fixed
		if rest != nil {
			need += mib
		}
		return layoutErr("The layout needs %d MiB on each of the %d disks used, but %s has only %d MiB usable",
			need/mib, n, smallest.Path, max(avail, 0)/mib)
	}
	if rest != nil {
		rest.member = avail - fixed
		got := usableSize(rest.member, rest.level(), n)
		if rest.lvm && got < rest.min {
			return layoutErr("The volume group %s (size 0: the rest of the disks) would get %d MiB, but its logical volumes need at least %d MiB",
				boot.VolumeGroup, got/mib, rest.min/mib)
		}
		if need := boot.MinSizeMiB[rest.entry.FileSystem] * mib; !rest.lvm && got < need {
			return layoutErr("%s (size 0: the rest of the disks) would get %d MiB, but %s needs at least %d MiB",
				rest.entry.MountPoint, got/mib, rest.entry.FileSystem, need/mib)
		}
	}
	return nil
}

func roundMiB(b int64) int64 { return (b + mib - 1) / mib * mib }

// level is the slot's RAID level (1 for the BIOS boot partition).
func (s *slot) level() int {
	if s.entry == nil {
		return 1
	}
	return s.entry.Level()
}

// partDevice names partition num of disk dev: a "p" goes between a disk
// name ending in a digit and the number (nvme0n1p1, mmcblk0p1, loop0p1).
func partDevice(dev string, num int) string {
	if b := path.Base(dev); b != "" && b[len(b)-1] >= '0' && b[len(b)-1] <= '9' {
		return dev + "p" + strconv.Itoa(num)
	}
	return dev + strconv.Itoa(num)
}
