package storage

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// counter is a fixed stream of "random" bytes.
type counter struct{ n byte }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		c.n++
		p[i] = c.n
	}
	return len(p), nil
}

func e(mp, fs string, level int, size int64) boot.LayoutEntry {
	return boot.LayoutEntry{MountPoint: mp, FileSystem: fs, RaidLevel: boot.RaidLevel(level), Size: size}
}

func lv(mp, fs string, level int, size int64, name string) boot.LayoutEntry {
	x := e(mp, fs, level, size)
	x.Extras = &boot.LayoutExtras{LV: &boot.LVExtra{Name: name}}
	return x
}

func disks(n int, size int64, prefix string) []Disk {
	var out []Disk
	for i := range n {
		out = append(out, Disk{Path: prefix + string(rune('a'+i)), Size: size, SectorSize: 512})
	}
	return out
}

// TestPlanGolden plans layouts and compares Describe with golden files
// (go test ./initramfs/storage -run TestPlanGolden -update rewrites them).
func TestPlanGolden(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name  string
		p     boot.Partitioning
		disks []Disk
		o     Options
	}{
		{"default-uefi-2disks", boot.Partitioning{}, disks(2, 8*gib, "/dev/vd"), Options{UEFI: true, ConfigDrive: 200 << 10}},
		{"default-uefi-1disk", boot.Partitioning{}, disks(1, 8*gib, "/dev/vd"), Options{UEFI: true}},
		{"default-legacy-1disk", boot.Partitioning{}, disks(1, 4*gib, "/dev/sd"), Options{ConfigDrive: 1 << 20}},
		{"default-legacy-3disks-uses-2", boot.Partitioning{Disks: 2}, disks(3, 4*gib, "/dev/sd"), Options{}},
		{"nvme-names", boot.Partitioning{}, []Disk{{"/dev/nvme0n1", 16 * gib, 512}, {"/dev/nvme1n1", 20 * gib, 4096}}, Options{UEFI: true}},
		{"raid0-5-10-lvm", boot.Partitioning{Layout: []boot.LayoutEntry{
			e("/boot/efi", "vfat", 1, 511), e("/boot", "ext4", 1, 1024), e("/", "xfs", 5, 4096), e("/scratch", "btrfs", 0, 2048),
			lv("/var", "ext4", 10, 1000, "var"), lv("swap", "swap", 10, 512, "swap"), lv("/home", "xfs", 10, 0, "home"),
		}}, disks(4, 10*gib, "/dev/vd"), Options{UEFI: true, ConfigDrive: 1 << 20}},
		{"raid6-fixed-sizes", boot.Partitioning{Layout: []boot.LayoutEntry{
			e("/", "ext4", 6, 3000), e("swap", "swap", 6, 1000),
		}}, disks(5, 4*gib, "/dev/sd"), Options{}},
		{"lvm-one-disk", boot.Partitioning{Layout: []boot.LayoutEntry{
			e("/boot", "ext4", 1, 512), lv("/", "ext4", 1, 2048, "root"), lv("/srv", "btrfs", 1, 0, "srv-data"),
		}}, disks(1, 6*gib, "/dev/vd"), Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Rand = &counter{}
			pl, err := NewPlan(tt.p, tt.disks, tt.o)
			if err != nil {
				t.Fatalf("NewPlan() = %v", err)
			}
			got := strings.Join(pl.Describe(), "\n") + "\n"
			golden := filepath.Join("testdata", tt.name+".txt")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("plan %s (-golden +got):\n%s", tt.name, diff)
			}
			checkPlan(t, pl)
		})
	}
}

// checkPlan checks invariants: partitions inside the disk, aligned, not
// overlapping, members of an array the same size, no device used twice.
func checkPlan(t *testing.T, pl *Plan) {
	t.Helper()
	size := map[string]int64{}
	used := map[string]bool{}
	for _, d := range pl.Disks {
		end := int64(mib)
		for _, p := range d.Parts {
			if p.Start%mib != 0 || p.Size%mib != 0 || p.Start < end || p.Start+p.Size > d.Size-mib {
				t.Errorf("%s: partition %d (%d+%d) misplaced", d.Path, p.Number, p.Start, p.Size)
			}
			end = p.Start + p.Size
			size[p.Device] = p.Size
		}
	}
	for _, a := range pl.Arrays {
		for _, m := range a.Members {
			if size[m] != size[a.Members[0]] {
				t.Errorf("array %s: member %s is %d bytes, %s %d", a.Device, m, size[m], a.Members[0], size[a.Members[0]])
			}
			if used[m] {
				t.Errorf("%s is used twice", m)
			}
			used[m] = true
		}
	}
	for _, f := range pl.FileSystems {
		if used[f.Device] {
			t.Errorf("file system %s on %s, which is used elsewhere", f.MountPoint, f.Device)
		}
		used[f.Device] = true
	}
}

func TestPlanErrors(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name  string
		p     boot.Partitioning
		disks []Disk
		o     Options
		want  string
	}{
		{"too big", boot.Partitioning{Layout: []boot.LayoutEntry{e("/", "ext4", 1, 5000)}}, disks(2, 4*gib, "/dev/sd"), Options{},
			"The layout needs 5001 MiB on each of the 2 disks used, but /dev/sda has only 4094 MiB usable"},
		{"smallest disk counts", boot.Partitioning{Layout: []boot.LayoutEntry{e("/", "ext4", 1, 3000)}},
			[]Disk{{"/dev/sda", 8 * gib, 512}, {"/dev/sdb", 2 * gib, 512}}, Options{},
			"The layout needs 3001 MiB on each of the 2 disks used, but /dev/sdb has only 2046 MiB usable"},
		{"no room for the rest", boot.Partitioning{Layout: []boot.LayoutEntry{e("/boot", "ext4", 1, 4000), e("/", "xfs", 1, 0)}},
			disks(1, 4*gib, "/dev/sd"), Options{}, "/ (size 0: the rest of the disks) would get 93 MiB, but xfs needs at least 300 MiB"},
		{"lvs too big for the rest", boot.Partitioning{Layout: []boot.LayoutEntry{e("/boot", "ext4", 1, 1000),
			lv("/", "ext4", 1, 3100, "root"), lv("/home", "ext4", 1, 0, "home")}},
			disks(1, 4*gib, "/dev/sd"), Options{}, "The volume group vg (size 0: the rest of the disks) would get 3093 MiB, but its logical volumes need at least 3108 MiB"},
		{"no esp on uefi", boot.Partitioning{Layout: []boot.LayoutEntry{e("/", "ext4", 1, 0)}}, disks(1, 4*gib, "/dev/sd"), Options{UEFI: true},
			"The layout has no /boot/efi (vfat) entry, which this UEFI machine needs to boot (e.g. 511 MiB, raidLevel 1)"},
		{"raid5 on 2 disks", boot.Partitioning{Layout: []boot.LayoutEntry{e("/", "ext4", 5, 0)}}, disks(2, 4*gib, "/dev/sd"), Options{},
			"raidLevel 5 for mountPoint / needs at least 3 disks, the partitioning uses 2"},
		{"more disks than the group", boot.Partitioning{Disks: 3}, disks(2, 4*gib, "/dev/sd"), Options{},
			"The partitioning asks for 3 disks, but the disk group has 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPlan(tt.p, tt.disks, tt.o)
			var le *LayoutError
			if err == nil || err.Error() != tt.want || !asLayoutError(err, &le) {
				t.Errorf("NewPlan() = %v, want *LayoutError %q", err, tt.want)
			}
		})
	}
}

func asLayoutError(err error, le **LayoutError) bool {
	l, ok := err.(*LayoutError)
	*le = l
	return ok
}

func TestPartDevice(t *testing.T) {
	for dev, want := range map[string]string{"/dev/sda": "/dev/sda3", "/dev/vdb": "/dev/vdb3", "/dev/nvme0n1": "/dev/nvme0n1p3", "/dev/mmcblk0": "/dev/mmcblk0p3", "/dev/loop7": "/dev/loop7p3"} {
		if got := partDevice(dev, 3); got != want {
			t.Errorf("partDevice(%s, 3) = %s, want %s", dev, got, want)
		}
	}
}
