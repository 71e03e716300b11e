package image

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// zeroFast zeroes with FALLOC_FL_PUNCH_HOLE (files; on block devices the
// 4 KiB-aligned part, see punchDevice), then BLKZEROOUT (block devices,
// 512-aligned part only; the unaligned edges are written).
func (t *FileTarget) zeroFast(off, n int64) error {
	if !t.block {
		return unix.Fallocate(int(t.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}
	if !t.noPunch {
		start := (off + 4095) &^ 4095
		end := (off + n) &^ 4095
		if end > start {
			err := unix.Fallocate(int(t.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, start, end-start)
			if err == nil {
				if start > off {
					if err := t.zeroOut(off, start-off); err != nil {
						return err
					}
				}
				if off+n > end {
					return t.zeroOut(end, off+n-end)
				}
				return nil
			}
			t.noPunch = true
		}
	}
	return t.zeroOut(off, n)
}

// zeroOut zeroes with BLKZEROOUT, writing the unaligned edges.
func (t *FileTarget) zeroOut(off, n int64) error {
	start := (off + 511) &^ 511
	end := (off + n) &^ 511
	if end <= start {
		return t.writeZeros(off, n)
	}
	if start > off {
		if err := t.writeZeros(off, start-off); err != nil {
			return err
		}
	}
	rng := [2]uint64{uint64(start), uint64(end - start)}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, t.f.Fd(), unix.BLKZEROOUT, uintptr(unsafe.Pointer(&rng)))
	if errno != 0 {
		return errno
	}
	if off+n > end {
		return t.writeZeros(end, off+n-end)
	}
	return nil
}

// openDirect opens the block device at path a second time with O_DIRECT
// and returns it with its logical block size; nil, 0 if either fails (the
// target then writes through the page cache only).
func openDirect(path string, f *os.File) (*os.File, int) {
	lbs, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
	if err != nil || lbs <= 0 || lbs > bufAlign || lbs&(lbs-1) != 0 {
		return nil, 0
	}
	d, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil, 0
	}
	return d, lbs
}
