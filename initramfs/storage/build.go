package storage

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/disk"
)

// build turns placed slots into partitions, arrays, the volume group and
// the file systems.
func (pl *Plan) build(slots []*slot, layout []boot.LayoutEntry, disks []Disk, o Options) error {
	n := len(disks)
	raid := n >= 2
	devices := make([][]string, len(slots)) // per slot: its partition on each disk
	for di, d := range disks {
		dp := DiskPlan{Disk: d}
		start := int64(mib)
		for si, s := range slots {
			typ := s.typ
			if raid && !s.bios && s.typ != disk.TypeESP {
				typ = disk.TypeLinuxRAID
			}
			num := len(dp.Parts) + 1
			part := Part{NewPartition: disk.NewPartition{Start: start, Size: s.member, Type: typ, Name: s.name}, Number: num, Device: partDevice(d.Path, num)}
			dp.Parts = append(dp.Parts, part)
			devices[si] = append(devices[si], part.Device)
			start += s.member
		}
		if di == 0 && o.ConfigDrive > 0 {
			size := (o.ConfigDrive + mib - 1) / mib * mib
			num := len(dp.Parts) + 1
			cd := Part{NewPartition: disk.NewPartition{Start: d.Size/mib*mib - mib - size, Size: size, Type: disk.TypeLinuxFS, Name: "config-2"},
				Number: num, Device: partDevice(d.Path, num)}
			dp.Parts = append(dp.Parts, cd)
			pl.ConfigDrive = &cd
		}
		pl.Disks = append(pl.Disks, dp)
	}
	// Each slot's block device: the partition, or an array of them.
	dev := make([]string, len(slots))
	for si, s := range slots {
		dev[si] = devices[si][0]
		if !raid || s.bios {
			continue
		}
		a := Array{Device: fmt.Sprintf("/dev/md%d", len(pl.Arrays)), Name: s.name, Level: s.level(), Metadata: "1.2", Members: devices[si]}
		if s.typ == disk.TypeESP {
			a.Metadata = "1.0"
		}
		pl.Arrays = append(pl.Arrays, a)
		dev[si] = a.Device
	}
	for si, s := range slots {
		switch {
		case s.bios:
		case s.lvm:
			pl.VG = &VolumeGroup{Name: boot.VolumeGroup, PV: dev[si]}
		default:
			if err := pl.addFS(s.entry, dev[si], usableSize(s.member, s.level(), n), o.Rand); err != nil {
				return err
			}
		}
	}
	if pl.VG != nil {
		var rest *LV
		var restEntry *boot.LayoutEntry
		for i := range layout {
			e := &layout[i]
			if e.LV() == "" {
				continue
			}
			lv := LV{Name: e.LV(), Size: lvSize(e.Size), Device: "/dev/mapper/" + mapperName(pl.VG.Name, e.LV())}
			if e.Size == 0 {
				lv.Size = 0
				rest, restEntry = &lv, e
				continue
			}
			pl.VG.LVs = append(pl.VG.LVs, lv)
			if err := pl.addFS(e, lv.Device, lv.Size, o.Rand); err != nil {
				return err
			}
		}
		if rest != nil {
			pl.VG.LVs = append(pl.VG.LVs, *rest)
			if err := pl.addFS(restEntry, rest.Device, 0, o.Rand); err != nil {
				return err
			}
		}
	}
	sortMounts(pl.FileSystems)
	return nil
}

// addFS records a file system with a new UUID.
func (pl *Plan) addFS(e *boot.LayoutEntry, dev string, size int64, r io.Reader) error {
	id, err := newUUID(r)
	if err != nil {
		return err
	}
	if e.FileSystem == boot.FSVFAT {
		// A FAT volume ID: 32 bits, shown as XXXX-XXXX.
		id = strings.ToUpper(id[0:4] + "-" + id[4:8])
	}
	pl.FileSystems = append(pl.FileSystems, FileSystem{MountPoint: e.MountPoint, Type: e.FileSystem, Device: dev, UUID: id, Size: size})
	return nil
}

// sortMounts orders file systems so that a mount point comes after the
// one it is inside of (/ before /boot before /boot/efi); swap areas last.
func sortMounts(fss []FileSystem) {
	sort.SliceStable(fss, func(i, j int) bool {
		a, b := fss[i].MountPoint, fss[j].MountPoint
		if (a == boot.MountSwap) != (b == boot.MountSwap) {
			return b == boot.MountSwap
		}
		return depth(a) < depth(b) || (depth(a) == depth(b) && a < b)
	})
}

func depth(mp string) int {
	if mp == "/" {
		return 0
	}
	return strings.Count(mp, "/")
}

// mapperName is device-mapper's name of an LV: dashes doubled, joined by one.
func mapperName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// newUUID reads a random version 4 UUID from r.
func newUUID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("random UUID: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// Describe lists what the plan does, one line per action, for logs, the
// step comment and golden tests.
func (pl *Plan) Describe() []string {
	var out []string
	for _, d := range pl.Disks {
		var parts []string
		for _, p := range d.Parts {
			parts = append(parts, fmt.Sprintf("%d %s %d MiB@%d", p.Number, p.Name, p.Size/mib, p.Start/mib))
		}
		out = append(out, fmt.Sprintf("gpt %s (%d MiB): %s", d.Path, d.Size/mib, strings.Join(parts, ", ")))
	}
	for _, a := range pl.Arrays {
		out = append(out, fmt.Sprintf("md %s name=%s raid%d metadata=%s: %s", a.Device, a.Name, a.Level, a.Metadata, strings.Join(a.Members, " ")))
	}
	if vg := pl.VG; vg != nil {
		out = append(out, fmt.Sprintf("lvm vg %s on %s", vg.Name, vg.PV))
		for _, lv := range vg.LVs {
			size := "rest"
			if lv.Size > 0 {
				size = fmt.Sprintf("%d MiB", lv.Size/mib)
			}
			out = append(out, fmt.Sprintf("lvm lv %s %s (%s)", lv.Name, size, lv.Device))
		}
	}
	for _, f := range pl.FileSystems {
		size := "rest"
		if f.Size > 0 {
			size = fmt.Sprintf("%d MiB", f.Size/mib)
		}
		out = append(out, fmt.Sprintf("mkfs %s %s on %s (%s) uuid=%s", f.MountPoint, f.Type, f.Device, size, f.UUID))
	}
	return out
}
