package disk

import (
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Block device ioctls (linux/fs.h).
const (
	blkRRPart    = 0x125f     // BLKRRPART: re-read the partition table
	blkGetSize64 = 0x80081272 // BLKGETSIZE64: size in bytes
)

// Reread asks the kernel to re-read f's partition table (BLKRRPART). On a
// regular file, or a device that has no partition table support, it does
// nothing. A busy device (udev probing it) is retried for about a second.
func Reread(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("re-read partition table of %s: %w", f.Name(), err)
	}
	if fi.Mode().IsRegular() {
		return nil
	}
	for attempt := 0; ; attempt++ {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), blkRRPart, 0)
		switch {
		case errno == 0, errno == unix.ENOTTY, errno == unix.EINVAL:
			return nil
		case errno == unix.EBUSY && attempt < 10:
			time.Sleep(100 * time.Millisecond)
		default:
			return fmt.Errorf("re-read partition table of %s: %w", f.Name(), errno)
		}
	}
}

// size returns the size of a regular file or block device in bytes.
func size(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", f.Name(), err)
	}
	if fi.Mode().IsRegular() {
		return fi.Size(), nil
	}
	if fi.Mode()&os.ModeDevice == 0 {
		return 0, fmt.Errorf("size of %s: %w", f.Name(), errors.New("neither a regular file nor a block device"))
	}
	var n uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), blkGetSize64, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0, fmt.Errorf("size of %s: BLKGETSIZE64: %w", f.Name(), errno)
	}
	return int64(n), nil
}
