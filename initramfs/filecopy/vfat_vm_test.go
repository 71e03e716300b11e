package filecopy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/initramfs/internal/testfs"
)

// TestCopyToVFATVM: onto the EFI system partition (vfat) files and folders
// are copied with their times; owners and modes are not kept (vfat has
// none) and are no error; a symbolic link is a clear error.
func TestCopyToVFATVM(t *testing.T) {
	testfs.NeedVM(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "EFI/debian"), 0o700)
	os.WriteFile(filepath.Join(src, "EFI/debian/grubx64.efi"), []byte(strings.Repeat("MZ", 5000)), 0o600)
	os.Chown(filepath.Join(src, "EFI/debian/grubx64.efi"), 1000, 1000)
	ts := []unix.Timespec{{Sec: 1_600_000_000}, {Sec: 1_500_000_000}}
	unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, "EFI/debian/grubx64.efi"), ts, 0)
	dev := testfs.Loop(t, 64<<20)
	testfs.Mkfs(t, "vfat", dev)
	dst := testfs.Mount(t, dev, "vfat", "")
	res, err := Copy(context.Background(), src, dst, Options{})
	if err != nil {
		t.Fatalf("Copy() = %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "EFI/debian/grubx64.efi"))
	if err != nil || string(b) != strings.Repeat("MZ", 5000) {
		t.Errorf("copied loader = %d bytes, %v", len(b), err)
	}
	var st unix.Stat_t
	unix.Stat(filepath.Join(dst, "EFI/debian/grubx64.efi"), &st)
	if st.Mtim.Sec != 1_500_000_000 {
		t.Errorf("mtime on vfat = %d, want 1500000000", st.Mtim.Sec)
	}
	t.Logf("%+v", res)

	os.Symlink("grubx64.efi", filepath.Join(src, "EFI/debian/link.efi"))
	os.RemoveAll(filepath.Join(dst, "EFI"))
	_, err = Copy(context.Background(), src, dst, Options{})
	if err == nil || !strings.Contains(err.Error(), "a symbolic link cannot be stored on the vfat file system of") {
		t.Errorf("Copy(symlink onto vfat) = %v, want a clear error", err)
	}
}
