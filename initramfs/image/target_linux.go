package image

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// zeroFast zeroes with BLKZEROOUT (block devices, 512-aligned part only; the
// unaligned edges are written) or FALLOC_FL_PUNCH_HOLE (files).
func (t *FileTarget) zeroFast(off, n int64) error {
	if !t.block {
		return unix.Fallocate(int(t.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	}
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
