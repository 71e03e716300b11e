package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/vmtest"
)

// vmModules are what the BYOLinux packages need from the kernel.
var vmModules = []string{"virtio_pci", "virtio_blk", "loop", "crc32c_generic", "crc32c_intel", "nbd", "md_mod", "raid0", "raid1", "raid456", "raid10",
	"dm_mod", "ext4", "xfs", "btrfs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "efivarfs"}

// vmTools are the Debian programs the installer runs (the tools layer) and
// the tests use to check the result.
var vmTools = []string{"mdadm", "lvm", "mkfs.ext4", "mke2fs", "mkfs.xfs", "mkfs.btrfs", "btrfs", "mkfs.vfat", "mkswap",
	"blkid", "losetup", "sgdisk", "mount", "umount", "busybox"}

// runInVM runs the tests in one VM and turns each section into a subtest:
// it fails when the binary failed, or skipped anything (a precondition is
// missing in the VM), or never ended.
func runInVM(t *testing.T, name string, o vmtest.Options) vmtest.Result {
	t.Helper()
	h := harness
	o.Root, o.Kernel, o.ModulesDir = h.Root, h.Kernel, h.ModulesDir
	o.Modules = append(o.Modules, vmModules...)
	o.Tools = append(o.Tools, vmTools...)
	if o.Links == nil {
		o.Links = map[string]string{}
	}
	for _, applet := range []string{"sh", "cat", "ls", "dd", "sleep", "echo", "grep", "sync", "dmesg"} {
		o.Links["usr/bin/"+applet] = "busybox"
	}
	if o.Work == "" {
		o.Work = t.TempDir()
	}
	o.Serial = filepath.Join(h.Artifacts, name+"-serial.log")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	res, err := vmtest.Run(ctx, o)
	h.Timing(name, "VM boot to first test", res.Boot)
	h.Timing(name, "VM total", res.Total)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !res.Done {
		t.Errorf("%s: the VM's init did not reach its end (serial log %s)", name, o.Serial)
	}
	for _, tc := range o.Tests {
		t.Run(tc.Name, func(t *testing.T) {
			out, ok := res.Sections[tc.Name]
			rc, ended := res.RC[tc.Name]
			t.Logf("in the VM (%.1f s):\n%s", res.Seconds[tc.Name], out)
			switch {
			case !ok || !ended:
				t.Fatalf("%s never ended in the VM (serial log %s)", tc.Name, o.Serial)
			case rc != 0:
				t.Fatalf("%s failed in the VM: exit code %d", tc.Name, rc)
			case strings.Contains(out, "--- SKIP"):
				t.Fatalf("%s skipped tests in the VM: a precondition is missing there", tc.Name)
			case !strings.Contains(out, "--- PASS"):
				t.Fatalf("%s ran no test in the VM", tc.Name)
			}
			h.Timing(name, tc.Name, time.Duration(res.Seconds[tc.Name]*float64(time.Second)))
		})
	}
	return res
}

// TestInstallerVM runs the BYOLinux packages' kernel tests in a VM with
// the installer's Debian kernel (1 GiB of memory, legacy BIOS): md
// RAID0/1/5/10 and LVM through storage.Apply, the kernel NBD client against
// byoi's server, a copy onto vfat; then the whole agent against a test
// server of its own (loopback, in the VM) with images built here: an XFS
// image with an explicit RAID/LVM layout, a btrfs one whose script fails,
// and two it must refuse before writing (two partitions, no script).
func TestInstallerVM(t *testing.T) {
	work := t.TempDir()
	const target = 3 << 30
	var disks []vmtest.Disk
	var targets []string
	for i := range 4 {
		disks = append(disks, vmtest.Disk{Path: filepath.Join(work, fmt.Sprintf("disk%d.raw", i)), Size: target})
		targets = append(targets, fmt.Sprintf("/dev/vd%c", 'a'+i))
	}
	spare := filepath.Join(work, "spare.raw")
	if err := garbageDisk(spare, 64<<20); err != nil {
		t.Fatal(err)
	}
	disks = append(disks, vmtest.Disk{Path: spare})
	images := byolinuxImages(t, filepath.Join(work, "images"))
	var imageEnv []string
	for _, name := range []string{"xfs", "btrfs-failing", "two-partitions", "noscript"} {
		imageEnv = append(imageEnv, fmt.Sprintf("%s=/dev/vd%c", name, 'a'+len(disks)))
		disks = append(disks, vmtest.Disk{Path: images[name]})
	}
	env := []string{"BYOI_TEST_DISKS=" + strings.Join(targets, " "), fmt.Sprintf("BYOI_TEST_TARGET_SIZE=%d", target),
		"BYOI_TEST_SPARE=/dev/vde", "BYOI_TEST_IMAGES=" + strings.Join(imageEnv, " ")}
	root := harness.Root
	pkg := func(name, dir, run string) vmtest.Test {
		return vmtest.Test{Name: name, Package: "./" + dir, Dir: filepath.Join(root, dir), Args: []string{"-test.run", run}, Env: env}
	}
	tests := []vmtest.Test{
		pkg("nbd", "initramfs/nbd", "VM$"),
		pkg("filecopy", "initramfs/filecopy", "VM$"),
		pkg("storage", "initramfs/storage", "VM"),
		pkg("agent", "initramfs/agent", "^TestBYOLinuxVM(|ScriptFails|RefusedBeforeWriting)$"),
	}
	// BYOI_VM_TESTS=agent,storage runs only those (while working on them).
	if only := os.Getenv("BYOI_VM_TESTS"); only != "" {
		tests = slices.DeleteFunc(tests, func(tc vmtest.Test) bool { return !slices.Contains(strings.Split(only, ","), tc.Name) })
	}
	runInVM(t, "installer-vm", vmtest.Options{Work: work, Disks: disks, MemoryMB: 1024, Tests: tests})
}

// byolinuxImages builds the small test images as qcow2 files.
func byolinuxImages(t *testing.T, dir string) map[string]string {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	ok, failing := testScript(0), testScript(3)
	xfs := fsImage(t, dir, "xfs", "xfs", 400<<20, func(r string) { imageTree(t, r, ok, 8) })
	btrfs := fsImage(t, dir, "btrfs-failing", "btrfs", 160<<20, func(r string) { imageTree(t, r, failing, 4) })
	noscript := fsImage(t, dir, "noscript", "ext4", 64<<20, func(r string) { imageTree(t, r, "", 1) })
	esp := fsImage(t, dir, "esp", "vfat", 100<<20, nil)
	root := fsImage(t, dir, "root", "ext4", 64<<20, func(r string) { imageTree(t, r, ok, 1) })
	return map[string]string{
		"xfs":            qcow2(t, gptDisk(t, dir, "xfs", xfs), true),
		"btrfs-failing":  qcow2(t, btrfs, true),
		"noscript":       qcow2(t, noscript, false),
		"two-partitions": qcow2(t, gptDisk(t, dir, "two-partitions", esp, root), false),
	}
}

// TestInstallerVMBigImage installs, in a VM with 384 MiB of memory, an
// image whose qcow2 file is more than twice the memory the VM's kernel
// sees (800 MiB of random data in files; the test in the VM checks the
// ratio): nothing is staged, and the process's peak RSS must stay within
// 64 MiB.
func TestInstallerVMBigImage(t *testing.T) {
	work := t.TempDir()
	const target = 3 << 30
	dir := filepath.Join(work, "images")
	os.MkdirAll(dir, 0o755)
	big := fsImage(t, dir, "big", "ext4", 1280<<20, func(r string) { imageTree(t, r, testScript(0), 800) })
	img := qcow2(t, gptDisk(t, dir, "big", big), false)
	os.Remove(big)
	disks := []vmtest.Disk{{Path: filepath.Join(work, "disk0.raw"), Size: target}, {Path: filepath.Join(work, "disk1.raw"), Size: target},
		{Path: filepath.Join(work, "spare.raw"), Size: 64 << 20}, {Path: img}}
	env := []string{fmt.Sprintf("BYOI_TEST_TARGET_SIZE=%d", target), "BYOI_TEST_SPARE=/dev/vdc", "BYOI_TEST_IMAGES=big=/dev/vdd"}
	res := runInVM(t, "installer-vm-bigimage", vmtest.Options{
		Work: work, Disks: disks, MemoryMB: 384,
		Tests: []vmtest.Test{{Name: "agent", Package: "./initramfs/agent", Dir: filepath.Join(harness.Root, "initramfs/agent"),
			Args: []string{"-test.run", "^TestBYOLinuxVMBigImage$"}, Env: env}},
	})
	for _, l := range strings.Split(res.Sections["agent"], "\n") {
		if strings.Contains(l, "BIGIMAGE") {
			t.Log(strings.TrimSpace(l))
		}
	}
}
