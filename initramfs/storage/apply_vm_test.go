package storage

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/internal/testfs"
)

// vmDisks returns the scratch disks the test VM gives (BYOI_TEST_DISKS),
// as storage disks; at least n of them.
func vmDisks(t *testing.T, n int) []Disk {
	t.Helper()
	testfs.NeedVM(t)
	// A clean slate: nothing left assembled by an earlier test.
	exec.Command("lvm", "vgchange", "-an").Run()
	exec.Command("mdadm", "--stop", "--scan").Run()
	var out []Disk
	for _, p := range strings.Fields(os.Getenv("BYOI_TEST_DISKS")) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		size, err := f.Seek(0, 2)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Disk{Path: p, Size: size, SectorSize: 512})
	}
	if len(out) < n {
		t.Fatalf("BYOI_TEST_DISKS has %d disks, the test needs %d", len(out), n)
	}
	return out[:n]
}

func sh(t *testing.T, cmd string, args ...string) string {
	t.Helper()
	out, err := exec.Command(cmd, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", cmd, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestApplyVM applies an explicit layout with RAID1 (ESP with metadata
// 1.0, /boot), RAID5, RAID0 and LVM on RAID10 over four disks, and checks
// what the kernel and the tools see: arrays, levels, metadata, volumes,
// file systems with their planned UUIDs, mounts, fstab, and that the
// mdadm.conf written assembles the arrays again by name.
func TestApplyVM(t *testing.T) {
	disks := vmDisks(t, 4)
	pl, err := NewPlan(boot.Partitioning{Layout: []boot.LayoutEntry{
		e("/boot/efi", "vfat", 1, 128), e("/boot", "ext4", 1, 256), e("/", "xfs", 5, 600), e("/scratch", "btrfs", 0, 256),
		lv("/var", "ext4", 10, 200, "var"), lv("swap", "swap", 10, 64, "swap"), lv("/home", "xfs", 10, 0, "home"),
	}}, disks, Options{UEFI: true, ConfigDrive: 1 << 20})
	if err != nil {
		t.Fatalf("NewPlan() = %v", err)
	}
	for _, l := range pl.Describe() {
		t.Log(l)
	}
	var lines []string
	root := t.TempDir()
	m, err := Apply(context.Background(), pl, root, Exec{Output: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	defer m.Close()
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "$ mdadm --create /dev/md0") {
		t.Errorf("Output lines start %q, want the mdadm command", lines[:min(1, len(lines))])
	}
	mdstat := readFile(t, "/proc/mdstat")
	t.Logf("/proc/mdstat:\n%s", mdstat)
	for _, a := range pl.Arrays {
		if a.Level != 0 {
			if act := strings.TrimSpace(readFile(t, "/sys/block/"+filepath.Base(a.Device)+"/md/sync_action")); act != "frozen" {
				t.Errorf("%s sync_action = %s, want frozen during the installation", a.Device, act)
			}
		}
		d := sh(t, "mdadm", "--detail", "--export", a.Device)
		for _, want := range []string{"MD_LEVEL=raid" + strconv.Itoa(a.Level), "MD_DEVICES=4", "MD_METADATA=" + a.Metadata, "MD_NAME=" + a.Name} {
			if !strings.Contains(d, want+"\n") {
				t.Errorf("mdadm --detail %s: no %s in\n%s", a.Device, want, d)
			}
		}
	}
	lvs := sh(t, "lvm", "lvs", "--noheadings", "-o", "lv_name", "vg")
	if f := strings.Fields(lvs); strings.Join(f, " ") != "home swap var" && strings.Join(f, " ") != "var swap home" {
		t.Errorf("lvs = %q, want var, swap, home", lvs)
	}
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, f := range pl.FileSystems {
		got := strings.Fields(sh(t, "blkid", "-p", "-o", "export", f.Device))
		for _, want := range []string{"UUID=" + f.UUID, "TYPE=" + f.Type} {
			if !slices.Contains(got, want) {
				t.Errorf("blkid %s (%s) = %v, want %s", f.Device, f.MountPoint, got, want)
			}
		}
		if f.Type == "swap" {
			continue
		}
		if !strings.Contains(string(mounts), " "+filepath.Join(root, f.MountPoint)+" "+f.Type+" ") {
			t.Errorf("%s is not mounted on %s as %s", f.Device, filepath.Join(root, f.MountPoint), f.Type)
		}
		if err := os.WriteFile(filepath.Join(root, f.MountPoint, "byoi-test"), []byte(f.MountPoint), 0o644); err != nil {
			t.Errorf("write on %s: %v", f.MountPoint, err)
		}
	}
	os.MkdirAll(filepath.Join(root, "etc/mdadm"), 0o755)
	written, err := m.WriteConfig(context.Background())
	if err != nil || strings.Join(written, " ") != "/etc/fstab /etc/mdadm/mdadm.conf" {
		t.Fatalf("WriteConfig() = %v, %v", written, err)
	}
	fstab, _ := os.ReadFile(filepath.Join(root, "etc/fstab"))
	conf, _ := os.ReadFile(filepath.Join(root, "etc/mdadm/mdadm.conf"))
	t.Logf("fstab:\n%s\nmdadm.conf:\n%s", fstab, conf)
	if n := strings.Count(string(conf), "\nARRAY /dev/md/"); n != len(pl.Arrays) {
		t.Errorf("mdadm.conf has %d ARRAY lines with /dev/md/NAME, want %d", n, len(pl.Arrays))
	}
	confCopy := filepath.Join(t.TempDir(), "mdadm.conf")
	os.WriteFile(confCopy, conf, 0o644)
	if err := m.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if md := readFile(t, "/proc/mdstat"); strings.Contains(md, "active") {
		t.Errorf("arrays still active after Close:\n%s", md)
	}
	// The installed system assembles them from mdadm.conf, by name.
	sh(t, "mdadm", "--assemble", "--scan", "--config="+confCopy)
	for _, a := range pl.Arrays {
		if _, err := os.Stat("/dev/md/" + a.Name); err != nil {
			t.Errorf("after mdadm --assemble --scan with the written mdadm.conf: %v", err)
		}
	}
	sh(t, "lvm", "vgchange", "-an", "vg")
	sh(t, "mdadm", "--stop", "--scan")
}

// TestApplyVMOneDisk: the legacy default on one disk is a BIOS boot
// partition and an ext4 root, no RAID.
func TestApplyVMOneDisk(t *testing.T) {
	disks := vmDisks(t, 1)
	pl, err := NewPlan(boot.Partitioning{}, disks, Options{ConfigDrive: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Apply(context.Background(), pl, t.TempDir(), Exec{})
	if err != nil {
		t.Fatalf("Apply() = %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	p := sh(t, "sgdisk", "-p", disks[0].Path)
	for _, want := range []string{"EF02  bios", "8300  root", "8300  config-2"} {
		if !strings.Contains(p, want) {
			t.Errorf("sgdisk -p has no %q:\n%s", want, p)
		}
	}
	if v := sh(t, "sgdisk", "-v", disks[0].Path); !strings.Contains(v, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", v)
	}
}

// TestApplyVMCommandError: mdadm failing (members that do not exist) is a
// CommandError naming the step, the command and mdadm's own words; a disk
// in use is refused before anything is written.
func TestApplyVMCommandError(t *testing.T) {
	disks := vmDisks(t, 2)
	pl := &Plan{Arrays: []Array{{Device: "/dev/md9", Name: "root", Level: 1, Metadata: "1.2", Members: []string{"/dev/nonexistent1", "/dev/nonexistent2"}}}}
	_, err := Apply(context.Background(), pl, t.TempDir(), Exec{})
	var ce *CommandError
	if !errors.As(err, &ce) || ce.What != "create RAID1 array /dev/md9 (root)" || !strings.HasPrefix(ce.Cmd, "mdadm --create /dev/md9") ||
		!strings.Contains(ce.Output, "nonexistent1") {
		t.Fatalf("Apply() = %v, want a CommandError of mdadm --create with mdadm's message", err)
	}
	t.Logf("error: %v", err)

	pl, err = NewPlan(boot.Partitioning{}, disks, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The second disk held exclusively, as a mount or an array would.
	f, err := os.OpenFile(disks[1].Path, os.O_RDONLY|os.O_EXCL, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	first := head(t, disks[0].Path)
	_, err = Apply(context.Background(), pl, t.TempDir(), Exec{})
	if err == nil || !strings.Contains(err.Error(), "open "+disks[1].Path+": device or resource busy (is it mounted, or part of a running array or volume group?)") {
		t.Fatalf("Apply(disk in use) = %v, want a clear refusal", err)
	}
	if head(t, disks[0].Path) != first {
		t.Errorf("%s was written although %s was in use", disks[0].Path, disks[1].Path)
	}
}

// head returns the first MiB of a disk.
func head(t *testing.T, dev string) string {
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1<<20)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
