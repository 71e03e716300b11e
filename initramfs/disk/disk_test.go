package disk

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

// fakeDisk describes one /sys/block entry of a fake sysfs tree.
type fakeDisk struct {
	name  string
	files map[string]string // relative to /sys/block/<name>
	link  string            // by-path link name, if any
}

// fakeTree builds sys and dev roots in a temp directory.
func fakeTree(t *testing.T, disks []fakeDisk) (sysRoot, devRoot string) {
	t.Helper()
	root := t.TempDir()
	sysRoot, devRoot = filepath.Join(root, "sys"), filepath.Join(root, "dev")
	byPath := filepath.Join(devRoot, "disk", "by-path")
	if err := os.MkdirAll(byPath, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range disks {
		for rel, content := range d.files {
			p := filepath.Join(sysRoot, "block", d.name, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(devRoot, d.name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if d.link != "" {
			if err := os.Symlink("../../"+d.name, filepath.Join(byPath, d.link)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sysRoot, devRoot
}

func vpd80(serial string) string {
	return string([]byte{0, 0x80, 0, byte(len(serial))}) + serial
}

var fakeDisks = []fakeDisk{
	{name: "sdb", files: map[string]string{"size": "2097152\n", "removable": "0\n", "device/vpd_pg80": vpd80("  SATA-B  "),
		"device/wwid": "naa.5000c500a1b2c3d4\n", "device/model": "ST1000   \n"}, link: "pci-0000:00:1f.2-ata-2"},
	{name: "sda", files: map[string]string{"size": "1048576\n", "removable": "1\n", "device/model": "USB Stick\n"},
		link: "pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0"},
	{name: "nvme10n1", files: map[string]string{"size": "4194304\n", "queue/logical_block_size": "4096\n",
		"device/serial": "NV10\n", "wwid": "eui.0025388b91b3c5e1\n"}},
	{name: "nvme2n1", files: map[string]string{"size": "4194304\n", "device/serial": "NV2\n", "ro": "1\n"}},
	{name: "vda", files: map[string]string{"size": "8388608\n", "serial": "virtio-1\n"}, link: "pci-0000:00:05.0"},
	{name: "sdaa", files: map[string]string{"size": "1048576\n"}},
	{name: "loop0", files: map[string]string{"size": "2048\n"}},
	{name: "sr0", files: map[string]string{"size": "2048\n"}},
	{name: "dm-0", files: map[string]string{"size": "2048\n"}},
	{name: "vdb", files: map[string]string{"size": "0\n"}},
	{name: "vda1", files: map[string]string{"size": "2048\n", "partition": "1\n"}},
}

func TestList(t *testing.T) {
	sys, dev := fakeTree(t, fakeDisks)
	got, err := List(sys, dev)
	if err != nil {
		t.Fatal(err)
	}
	bp := filepath.Join(dev, "disk", "by-path")
	want := []Disk{
		{Name: "nvme2n1", Path: filepath.Join(dev, "nvme2n1"), Size: 2048 * mib, LogicalSectorSize: 512, Serial: "NV2", ReadOnly: true},
		{Name: "nvme10n1", Path: filepath.Join(dev, "nvme10n1"), Size: 2048 * mib, LogicalSectorSize: 4096, Serial: "NV10",
			WWN: "eui.0025388b91b3c5e1"},
		{Name: "sda", Path: filepath.Join(dev, "sda"), Size: 512 * mib, LogicalSectorSize: 512, Model: "USB Stick", Removable: true,
			ByPath: []string{filepath.Join(bp, "pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0")}},
		{Name: "sdb", Path: filepath.Join(dev, "sdb"), Size: 1024 * mib, LogicalSectorSize: 512, Serial: "SATA-B",
			WWN: "naa.5000c500a1b2c3d4", Model: "ST1000", ByPath: []string{filepath.Join(bp, "pci-0000:00:1f.2-ata-2")}},
		{Name: "sdaa", Path: filepath.Join(dev, "sdaa"), Size: 512 * mib, LogicalSectorSize: 512},
		{Name: "vda", Path: filepath.Join(dev, "vda"), Size: 4096 * mib, LogicalSectorSize: 512, Serial: "virtio-1",
			ByPath: []string{filepath.Join(bp, "pci-0000:00:05.0")}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List mismatch (-want +got):\n%s", diff)
	}
}

func TestListMissingSysfs(t *testing.T) {
	if _, err := List(filepath.Join(t.TempDir(), "nope"), ""); err == nil {
		t.Errorf("List(missing) = nil error, want one")
	}
}

func TestSelect(t *testing.T) {
	sys, dev := fakeTree(t, fakeDisks)
	disks, err := List(sys, dev)
	if err != nil {
		t.Fatal(err)
	}
	bp := filepath.Join(dev, "disk", "by-path")
	for _, tc := range []struct {
		name  string
		hints boot.DiskHints
		want  string // disk name, "" for an error
	}{
		{"no hints: first writable non-removable", boot.DiskHints{}, "nvme10n1"},
		{"device path", boot.DiskHints{Path: filepath.Join(dev, "vda")}, "vda"},
		{"bare kernel name", boot.DiskHints{Path: "sdaa"}, "sdaa"},
		{"by-path symlink", boot.DiskHints{Path: filepath.Join(bp, "pci-0000:00:05.0")}, "vda"},
		{"by-path of removable disk", boot.DiskHints{Path: filepath.Join(bp, "pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0")}, "sda"},
		{"missing path", boot.DiskHints{Path: filepath.Join(bp, "nope")}, ""},
		{"serial", boot.DiskHints{Serial: "NV10"}, "nvme10n1"},
		{"serial from VPD page", boot.DiskHints{Serial: "sata-b"}, "sdb"},
		{"wwn with 0x", boot.DiskHints{WWN: "0x5000C500A1B2C3D4"}, "sdb"},
		{"wwn eui", boot.DiskHints{WWN: "eui.0025388B91B3C5E1"}, "nvme10n1"},
		{"min size", boot.DiskHints{MinSize: 3 << 30}, "vda"},
		{"max size", boot.DiskHints{MaxSize: 600 * mib}, "sda"},
		{"size range", boot.DiskHints{MinSize: 1 << 30, MaxSize: 1<<30 + 1}, "sdb"},
		{"all hints must match", boot.DiskHints{Serial: "NV10", MaxSize: 1 << 30}, ""},
		{"read-only never selected", boot.DiskHints{Serial: "NV2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Select(disks, tc.hints)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ErrNoDisk) {
					t.Errorf("Select(%+v) = %s, %v, want ErrNoDisk", tc.hints, got.Name, err)
				}
				return
			}
			if err != nil || got.Name != tc.want {
				t.Errorf("Select(%+v) = %q, %v, want %q", tc.hints, got.Name, err, tc.want)
			}
		})
	}
}

func TestSelectNothingWritable(t *testing.T) {
	_, err := Select([]Disk{{Name: "sda", Removable: true}, {Name: "sdb", ReadOnly: true}}, boot.DiskHints{})
	if !errors.Is(err, ErrNoDisk) {
		t.Errorf("Select = %v, want ErrNoDisk", err)
	}
}

func TestDiskNameCompare(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"sdz", "sdaa"}, {"nvme2n1", "nvme10n1"}, {"nvme0n1", "nvme0n2"}, {"sda", "sdb"}, {"nvme0n1", "vda"},
		{"sdb", "sdaa"}, {"hda", "sda"}, {"mmcblk0", "mmcblk1"}, {"xvda", "xvdb"}, {"sdz", "vda"},
	} {
		if diskNameCompare(tc.a, tc.b) >= 0 || diskNameCompare(tc.b, tc.a) <= 0 {
			t.Errorf("diskNameCompare(%q, %q) does not put %q first", tc.a, tc.b, tc.a)
		}
	}
}
