// Package testfs holds test helpers for the installer's BYOLinux packages:
// loop devices over sparse files, file systems made with the real mkfs
// tools, mounts, all removed when the test ends. Tests that need root or a
// tool call Need*, which skips outside CI and fails under
// BYOI_INTEGRATION=1, where a missing precondition is a failure.
//
//	testfs.NeedRoot(t)
//	dev := testfs.Loop(t, 512<<20)
//	testfs.Mkfs(t, "ext4", dev)
//	dir := testfs.Mount(t, dev, "ext4", "")
package testfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Integration reports whether missing preconditions must fail tests.
func Integration() bool { return os.Getenv("BYOI_INTEGRATION") == "1" }

// InVM reports whether the tests run inside byoi's test VM (a Debian
// kernel with md, dm, nbd and vfat), see e2e TestInstallerVM.
func InVM() bool { return os.Getenv("BYOI_TEST_VM") == "1" }

// missing skips, or fails under BYOI_INTEGRATION=1.
func missing(t testing.TB, format string, a ...any) {
	t.Helper()
	if Integration() {
		t.Fatalf(format, a...)
	}
	t.Skipf(format, a...)
}

// NeedRoot skips (or fails in CI) unless the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "needs root (loop devices, mounts)")
	}
}

// NeedVM skips unless the test runs inside byoi's test VM: the feature
// (md, LVM, NBD, vfat) is not in the host kernel here, and the e2e test
// TestInstallerVM runs this test there and fails if it fails or skips.
func NeedVM(t testing.TB) {
	t.Helper()
	if !InVM() {
		t.Skip("runs inside byoi's test VM (make e2e: TestInstallerVM), which has the kernel features it needs")
	}
}

// NeedTool returns the path of a program, skipping (or failing in CI)
// when it is missing.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s not found: %v (scripts/install-deps.sh test)", name, err)
	}
	return p
}

// Run runs a command and fails the test with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TempDir returns a temporary folder removed at the end of the test, on
// tmpfs (/dev/shm) when there is one: disk images there are sparse and
// their syncs cost nothing.
func TempDir(t testing.TB) string {
	t.Helper()
	var s unix.Statfs_t
	if unix.Statfs("/dev/shm", &s) != nil || s.Type != unix.TMPFS_MAGIC {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("/dev/shm", "byoi-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// File creates a sparse file of size bytes in a temporary folder.
func File(t testing.TB, size int64) string {
	t.Helper()
	p := filepath.Join(TempDir(t), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// Loop attaches a new sparse file of size bytes to a loop device (with
// partition scanning) and returns the device; it is detached at the end.
func Loop(t testing.TB, size int64) string {
	t.Helper()
	return LoopFile(t, File(t, size))
}

// LoopFile attaches file to a loop device with partition scanning.
func LoopFile(t testing.TB, file string) string {
	t.Helper()
	NeedRoot(t)
	losetup := NeedTool(t, "losetup")
	dev := strings.TrimSpace(Run(t, losetup, "--find", "--show", "--partscan", file))
	t.Cleanup(func() { exec.Command(losetup, "--detach", dev).Run() })
	return dev
}

// Mkfs makes a file system of type fs (ext4, xfs, btrfs, vfat) on dev.
func Mkfs(t testing.TB, fs, dev string, extra ...string) {
	t.Helper()
	var args []string
	switch fs {
	case "ext4":
		args = []string{"-q", "-F"}
	case "xfs", "btrfs":
		args = []string{"-q", "-f"}
	case "vfat":
	}
	Run(t, NeedTool(t, "mkfs."+fs), append(append(args, extra...), dev)...)
}

// Mount mounts dev (type fs, options opts) on a new temporary folder and
// unmounts it when the test ends.
func Mount(t testing.TB, dev, fs, opts string) string {
	t.Helper()
	dir := t.TempDir()
	MountAt(t, dev, dir, fs, opts)
	return dir
}

// MountAt mounts dev on dir and unmounts it when the test ends.
func MountAt(t testing.TB, dev, dir, fs, opts string) {
	t.Helper()
	var flags uintptr
	var data []string
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "":
		case "ro":
			flags |= unix.MS_RDONLY
		default:
			data = append(data, o)
		}
	}
	if err := unix.Mount(dev, dir, fs, flags, strings.Join(data, ",")); err != nil {
		t.Fatalf("mount %s on %s (%s %s): %v", dev, dir, fs, opts, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
}
