package image

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/byoi/byoi/boot"
)

// faultyTarget is a real file target whose WriteAt fails once failAfter
// bytes were written (a disk that fills up or starts failing), and whose
// ZeroRange or Sync can fail too.
type faultyTarget struct {
	*FileTarget
	failAfter int64 // -1: writes never fail
	writeErr  error
	zeroErr   error
	syncErr   error
	written   atomic.Int64
}

func (f *faultyTarget) WriteAt(p []byte, off int64) (int, error) {
	if f.failAfter >= 0 && f.written.Load()+int64(len(p)) > f.failAfter {
		n := max(f.failAfter-f.written.Load(), 0)
		f.written.Add(n)
		return int(n), f.writeErr
	}
	f.written.Add(int64(len(p)))
	return f.FileTarget.WriteAt(p, off)
}

func (f *faultyTarget) ZeroRange(off, n int64) error {
	if f.zeroErr != nil {
		return f.zeroErr
	}
	return f.FileTarget.ZeroRange(off, n)
}

func (f *faultyTarget) Sync() error {
	if f.syncErr != nil {
		return f.syncErr
	}
	return f.FileTarget.Sync()
}

// checkWriteFailure wants a write failure of imageType at the write step,
// with the cause kept.
func checkWriteFailure(t *testing.T, err error, imageType string, cause error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindWrite || e.Declared != imageType || e.Step != boot.StepWrite {
		t.Fatalf("Install() = %#v, want a write failure of a %s image at step write", err, imageType)
	}
	if !errors.Is(err, cause) {
		t.Errorf("Install() error %v does not wrap the cause %v", e.Err, cause)
	}
}

func TestInstallWriteFaults(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, tc := range []struct {
		name, file string
		target     func(ft *FileTarget) *faultyTarget
		cause      error
	}{
		{"disk full after 1 MiB, raw", "raw", func(ft *FileTarget) *faultyTarget {
			return &faultyTarget{FileTarget: ft, failAfter: mib, writeErr: syscall.ENOSPC}
		}, syscall.ENOSPC},
		{"disk full after 1 MiB, gzip", "raw-gzip", func(ft *FileTarget) *faultyTarget {
			return &faultyTarget{FileTarget: ft, failAfter: mib, writeErr: syscall.ENOSPC}
		}, syscall.ENOSPC},
		{"I/O error on the first write, qcow2", "qcow2-zlib", func(ft *FileTarget) *faultyTarget {
			return &faultyTarget{FileTarget: ft, failAfter: 0, writeErr: syscall.EIO}
		}, syscall.EIO},
		{"I/O error half way, qcow2", "qcow2-v3", func(ft *FileTarget) *faultyTarget {
			return &faultyTarget{FileTarget: ft, failAfter: 2 * mib, writeErr: syscall.EIO}
		}, syscall.EIO},
		{"zeroing fails, raw", "raw", func(ft *FileTarget) *faultyTarget {
			return &faultyTarget{FileTarget: ft, failAfter: -1, zeroErr: syscall.EIO}
		}, syscall.EIO},
		{"sync fails, qcow2", "qcow2-zstd", func(ft *FileTarget) *faultyTarget {
			return &faultyTarget{FileTarget: ft, failAfter: -1, syncErr: syscall.EIO}
		}, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fileServer(t, variants[tc.file], nil)
			ft := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
			defer ft.Close()
			_, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(tc.file)}), tc.target(ft))
			checkWriteFailure(t, err, declared(tc.file), tc.cause)
		})
	}
}

// TestInstallReadOnlyDisk: on a loop device attached read only
// (losetup -r), or made read only after the installer opened it (blockdev
// --setro), the kernel refuses every write and the install fails with
// OVH's "Can't write" message. Some kernels refuse the open itself: that
// is the same message through WriteError, as the agent reports it.
func TestInstallReadOnlyDisk(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, tc := range []struct {
		name, file string
		losetup    []string
		setro      bool
	}{
		{"losetup -r, raw", "raw", []string{"--read-only"}, false},
		{"losetup -r, qcow2", "qcow2-zlib", []string{"--read-only"}, false},
		{"setro after open, gzip", "raw-gzip", nil, true},
		{"setro after open, qcow2", "qcow2-v3", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := loopDevice(t, testImageSize, tc.losetup...)
			tg, err := OpenTarget(dev)
			if err != nil {
				if errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES) {
					checkWriteFailure(t, WriteError(declared(tc.file), err), declared(tc.file), err)
					return
				}
				t.Fatalf("OpenTarget(%s) = %v", dev, err)
			}
			defer tg.Close()
			if tc.setro {
				blockdev(t, "--setro", dev)
				t.Cleanup(func() { blockdev(t, "--setrw", dev) })
			}
			srv := fileServer(t, variants[tc.file], nil)
			_, err = Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(tc.file)}), tg)
			checkWriteFailure(t, err, declared(tc.file), syscall.EPERM)
		})
	}
}

func blockdev(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("blockdev", args...).CombinedOutput(); err != nil {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("blockdev %s: %v: %s", strings.Join(args, " "), err, out)
		}
		t.Skipf("blockdev %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
