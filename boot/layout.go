package boot

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Partitioning is the "partitioning" object of a BYOLinux reinstall's
// storage entry, in OVH's field names: how many disks of the disk group to
// use and what goes on them. An empty Layout means DefaultLayout.
type Partitioning struct {
	// Disks is how many disks of the group to use, in the group's order;
	// 0 means all of them.
	Disks int `json:"disks,omitempty"`
	// SchemeName is OVH's name for the layout; byoi keeps it for the record.
	SchemeName string        `json:"schemeName,omitempty"`
	Layout     []LayoutEntry `json:"layout,omitempty"`
}

// LayoutEntry is one file system (or swap area) of a layout.
type LayoutEntry struct {
	// MountPoint is an absolute path, or "swap" for swap.
	MountPoint string `json:"mountPoint"`
	// FileSystem is ext4, xfs, btrfs, vfat (/boot/efi only) or swap.
	FileSystem string `json:"fileSystem"`
	// RaidLevel is the software RAID level across the disks used: 0, 1, 5,
	// 6 or 10. Nil means 1, as at OVH. With one disk, 0 and 1 mean no RAID.
	RaidLevel *int `json:"raidLevel,omitempty"`
	// Size is in MiB; 0 means the rest of the disks (one entry at most).
	Size int64 `json:"size"`
	// Extras makes the entry a logical volume (Extras.LV).
	Extras *LayoutExtras `json:"extras,omitempty"`
}

// LayoutExtras are OVH's per-entry extras.
type LayoutExtras struct {
	LV *LVExtra `json:"lv,omitempty"`
	// ZP is OVH's ZFS pool; byoi refuses it.
	ZP *ZPExtra `json:"zp,omitempty"`
}

// LVExtra names the logical volume an entry lives on.
type LVExtra struct {
	Name string `json:"name"`
}

// ZPExtra names a ZFS pool (not supported).
type ZPExtra struct {
	Name string `json:"name"`
}

// File systems of a layout.
const (
	FSExt4  = "ext4"
	FSXFS   = "xfs"
	FSBtrfs = "btrfs"
	FSVFAT  = "vfat"
	FSSwap  = "swap"
)

// Special mount points.
const (
	MountRoot = "/"
	MountBoot = "/boot"
	MountESP  = "/boot/efi"
	MountSwap = "swap"
)

// ESPSizeMiB is the EFI system partition of the default layout (OVH's size).
const ESPSizeMiB = 511

// MinSizeMiB is the smallest size mkfs accepts (or, for vfat, that makes
// the FAT32 file system firmware expects on an ESP), per file system.
var MinSizeMiB = map[string]int64{FSExt4: 16, FSXFS: 300, FSBtrfs: 128, FSVFAT: 64, FSSwap: 1}

// VolumeGroup is the LVM volume group every logical volume of a layout
// goes into.
const VolumeGroup = "vg"

// Level returns the entry's RAID level, 1 when none was given.
func (e LayoutEntry) Level() int {
	if e.RaidLevel == nil {
		return 1
	}
	return *e.RaidLevel
}

// LV returns the logical volume name, "" for a plain partition.
func (e LayoutEntry) LV() string {
	if e.Extras == nil || e.Extras.LV == nil {
		return ""
	}
	return e.Extras.LV.Name
}

// RaidLevel returns a pointer to level, for building layouts.
func RaidLevel(level int) *int { return &level }

// DefaultLayout is the layout used when a request gives none, like OVH's
// default for Linux: on UEFI an EFI system partition (mirrored over RAID1
// with metadata 1.0 when there are two disks or more), then / in ext4 on
// the rest, RAID1 across the disks. Legacy machines get no ESP; the
// installer adds a BIOS boot partition for GRUB on every disk.
func DefaultLayout(uefi bool) []LayoutEntry {
	var l []LayoutEntry
	if uefi {
		l = append(l, LayoutEntry{MountPoint: MountESP, FileSystem: FSVFAT, RaidLevel: RaidLevel(1), Size: ESPSizeMiB})
	}
	return append(l, LayoutEntry{MountPoint: MountRoot, FileSystem: FSExt4, RaidLevel: RaidLevel(1), Size: 0})
}

// minDisks is the number of disks each RAID level needs (OVH's rules).
var minDisks = map[int]int{0: 2, 1: 2, 5: 3, 6: 4, 10: 4}

var (
	lvNameRE = regexp.MustCompile(`^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,63}$`)
	// reservedMounts are the API file systems of a running Linux system.
	reservedMounts = []string{"/proc", "/sys", "/dev", "/run"}
	fileSystems    = []string{FSExt4, FSXFS, FSBtrfs, FSVFAT, FSSwap}
)

// Validate checks a partitioning request on its own, before the machine's
// disks and firmware are known: mount points, file systems, sizes, RAID
// levels against Disks when it is set, logical volumes. It normalises file
// system names to lower case. Errors are *ValidationError.
func (p *Partitioning) Validate() error {
	if p.Disks < 0 {
		return invalid("Invalid partitioning disks %d: expected 0 (all the disks of the group) or more", p.Disks)
	}
	if len(p.SchemeName) > 64 || strings.ContainsAny(p.SchemeName, "\r\n\x00") {
		return invalid("Invalid partitioning schemeName %q", p.SchemeName)
	}
	if len(p.Layout) > 64 {
		return invalid("Invalid partitioning layout: %d entries, at most 64", len(p.Layout))
	}
	mounts := map[string]bool{}
	lvs := map[string]bool{}
	var rest []string
	lvLevel := -1
	for i := range p.Layout {
		e := &p.Layout[i]
		if err := e.validate(); err != nil {
			return err
		}
		if e.MountPoint != MountSwap && mounts[e.MountPoint] {
			return invalid("mountPoint %s is given twice in the layout", e.MountPoint)
		}
		mounts[e.MountPoint] = true
		if e.Size == 0 {
			rest = append(rest, e.MountPoint)
		}
		if lv := e.LV(); lv != "" {
			if lvs[lv] {
				return invalid("Logical volume name %q is given twice in the layout", lv)
			}
			lvs[lv] = true
			if lvLevel >= 0 && lvLevel != e.Level() {
				return invalid("Every logical volume lives in one volume group on one RAID device: raidLevel must be the same for all entries with extras.lv (%d and %d given)", lvLevel, e.Level())
			}
			lvLevel = e.Level()
		}
		if p.Disks > 0 {
			if err := checkRaid(*e, p.Disks); err != nil {
				return err
			}
		}
	}
	if len(rest) > 1 {
		return invalid("Only one layout entry may have size 0 (the rest of the disks): %s all do", strings.Join(rest, ", "))
	}
	if len(p.Layout) > 0 && !mounts[MountRoot] {
		return invalid("The layout has no / (root) file system")
	}
	return nil
}

// validate checks one entry on its own.
func (e *LayoutEntry) validate() error {
	mp := e.MountPoint
	if mp == "" {
		return invalid("Missing parameter: mountPoint in a layout entry")
	}
	e.FileSystem = strings.ToLower(strings.TrimSpace(e.FileSystem))
	fs := e.FileSystem
	if fs == "" {
		return invalid("Missing parameter: fileSystem for mountPoint %s", mp)
	}
	if e.Extras != nil && e.Extras.ZP != nil {
		return invalid("ZFS (extras.zp for mountPoint %s) is not supported by this byoi server", mp)
	}
	if fs == "zfs" {
		return invalid("fileSystem zfs (mountPoint %s) is not supported by this byoi server: expected one of %s", mp, strings.Join(fileSystems, ", "))
	}
	if !slices.Contains(fileSystems, fs) {
		return invalid("Unknown fileSystem %q for mountPoint %s: expected one of %s", fs, mp, strings.Join(fileSystems, ", "))
	}
	if (fs == FSSwap) != (mp == MountSwap) {
		return invalid("mountPoint %s with fileSystem %s: swap areas have mountPoint swap and fileSystem swap", mp, fs)
	}
	if mp != MountSwap {
		if err := checkMountPoint(mp); err != nil {
			return err
		}
	}
	if (fs == FSVFAT) != (mp == MountESP) {
		return invalid("mountPoint %s with fileSystem %s: vfat is only for /boot/efi, and /boot/efi must be vfat", mp, fs)
	}
	if e.Size < 0 || e.Size > 1<<40 {
		return invalid("Invalid size %d MiB for mountPoint %s: expected 0 (the rest) or a positive number of MiB", e.Size, mp)
	}
	if m := MinSizeMiB[fs]; e.Size > 0 && e.Size < m {
		return invalid("size %d MiB for mountPoint %s is too small: %s needs at least %d MiB", e.Size, mp, fs, m)
	}
	if _, ok := minDisks[e.Level()]; !ok {
		return invalid("raidLevel %d is not supported for mountPoint %s: expected 0, 1, 5, 6 or 10", e.Level(), mp)
	}
	if e.Extras != nil && e.Extras.LV != nil {
		lv := e.Extras.LV.Name
		switch {
		case !lvNameRE.MatchString(lv) || lv == "." || lv == ".." || strings.HasPrefix(lv, "snapshot") || strings.HasPrefix(lv, "pvmove"):
			return invalid("Invalid logical volume name %q for mountPoint %s: use 1-64 letters, digits, '_', '+', '.' or '-'", lv, mp)
		case mp == MountESP || mp == MountBoot:
			return invalid("mountPoint %s cannot be a logical volume: the firmware and GRUB read it as a plain partition", mp)
		}
	}
	if mp == MountESP && e.Level() != 1 {
		return invalid("mountPoint /boot/efi must use raidLevel 1: the firmware reads each disk's copy as a plain FAT file system")
	}
	return nil
}

// checkMountPoint accepts clean absolute paths that fstab can hold and that
// are not the API file systems of the running system.
func checkMountPoint(mp string) error {
	if !strings.HasPrefix(mp, "/") || path.Clean(mp) != mp || len(mp) > 255 {
		return invalid("Invalid mountPoint %q: an absolute path such as /home, or swap, is expected", mp)
	}
	for _, r := range mp {
		if r <= ' ' || r == 0x7f || r == '\\' || r == '#' {
			return invalid("Invalid mountPoint %q: spaces, control characters, '\\' and '#' are not allowed", mp)
		}
	}
	for _, r := range reservedMounts {
		if mp == r || strings.HasPrefix(mp, r+"/") {
			return invalid("Invalid mountPoint %s: %s is a kernel file system of the running system", mp, r)
		}
	}
	return nil
}

// checkRaid checks an entry's RAID level against the number of disks.
func checkRaid(e LayoutEntry, disks int) error {
	level := e.Level()
	if disks == 1 && (level == 0 || level == 1) {
		return nil // one disk: no RAID
	}
	if need := minDisks[level]; disks < need {
		return invalid("raidLevel %d for mountPoint %s needs at least %d disks, the partitioning uses %d", level, e.MountPoint, need, disks)
	}
	return nil
}

// CheckFor checks the layout against what the installer learns when the
// machine boots: whether it runs UEFI firmware and how many disks the
// partitioning uses. Errors are *ValidationError.
func (p Partitioning) CheckFor(uefi bool, disks int) error {
	layout := p.EffectiveLayout(uefi)
	if disks < 1 {
		return invalid("No disk to install on")
	}
	hasESP := false
	for _, e := range layout {
		if err := checkRaid(e, disks); err != nil {
			return err
		}
		hasESP = hasESP || e.MountPoint == MountESP
	}
	if uefi && !hasESP {
		return errNoESP()
	}
	return nil
}

func errNoESP() error {
	return invalid("The layout has no /boot/efi (vfat) entry, which this UEFI machine needs to boot (e.g. %d MiB, raidLevel 1)", ESPSizeMiB)
}

// CheckMachine checks a BYOLinux spec at submission against what byoi
// already knows of the machine: when its last network boot was UEFI, a
// given layout must have /boot/efi. (The installer checks again, with the
// firmware and the disks it finds: CheckFor.) Errors are *ValidationError.
func (s InstallSpec) CheckMachine(m Machine) error {
	if s.OperatingSystem != OSBYOLinux || s.Partitioning == nil || len(s.Partitioning.Layout) == 0 || m.LastFirmware() != FirmwareEFI {
		return nil
	}
	for _, e := range s.Partitioning.Layout {
		if e.MountPoint == MountESP {
			return nil
		}
	}
	return errNoESP()
}

// EffectiveLayout returns the layout to apply: the given one, or
// DefaultLayout for the firmware.
func (p Partitioning) EffectiveLayout(uefi bool) []LayoutEntry {
	if len(p.Layout) == 0 {
		return DefaultLayout(uefi)
	}
	return p.Layout
}

// String describes an entry for logs and messages: "/ ext4 RAID1 rest".
func (e LayoutEntry) String() string {
	size := "rest"
	if e.Size > 0 {
		size = fmt.Sprintf("%d MiB", e.Size)
	}
	s := fmt.Sprintf("%s %s RAID%d %s", e.MountPoint, e.FileSystem, e.Level(), size)
	if lv := e.LV(); lv != "" {
		s += " lv " + lv
	}
	return s
}
