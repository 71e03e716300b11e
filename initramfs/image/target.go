package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Target is what an image is written to: a disk, or a file in tests.
type Target interface {
	io.WriterAt
	Size() int64
	Name() string // e.g. "/dev/vda", for messages
	// ZeroRange must leave n zero bytes at off, whatever was there before.
	ZeroRange(off, n int64) error
	Sync() error
}

// FileTarget is a Target backed by a regular file or a block device.
//
// On a block device, writes whose buffer, offset and length are aligned to
// the logical block size go through a second descriptor opened with
// O_DIRECT: straight to the device instead of through its page cache (which
// is then flushed by Sync anyway), the way an imaging tool should write a
// whole disk once. Unaligned writes (the edges of zero ranges, a last
// partial block) use the page cache; the kernel keeps both views coherent.
type FileTarget struct {
	f     *os.File
	size  int64
	block bool
	// WriteAt may be called from several goroutines at once: mu guards
	// direct, held shared by direct writes, and exclusively to drop it and
	// by writes through the page cache (see cachedWrite).
	mu     sync.RWMutex
	direct *os.File // O_DIRECT descriptor of a block device, nil if none
	align  int      // logical block size: direct writes need this alignment
	// noZeroOut is set once the fast zeroing call failed; later ranges are
	// then written with zeros.
	noZeroOut bool
	// noPunch is set once fallocate(PUNCH_HOLE) failed on the block device
	// (no write-zeroes support, or a logical block size over 4 KiB).
	noPunch bool
	zeros   []byte
}

// OpenTarget opens a regular file or a block device for writing. The size of
// a file is its current length; the image must fit in it.
func OpenTarget(path string) (*FileTarget, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open target: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat target %s: %w", path, err)
	}
	t := &FileTarget{f: f, block: st.Mode()&os.ModeDevice != 0}
	switch {
	case t.block:
		t.size, err = f.Seek(0, io.SeekEnd)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("size of %s: %w", path, err)
		}
		t.direct, t.align = openDirect(path, f)
	case st.Mode().IsRegular():
		t.size = st.Size()
	default:
		f.Close()
		return nil, fmt.Errorf("target %s is neither a file nor a block device", path)
	}
	return t, nil
}

// WriteAt writes p at off, with direct I/O when p, off and len(p) are
// aligned for it. A device that refuses direct I/O (EINVAL before anything
// was written) is written through the page cache from then on.
func (t *FileTarget) WriteAt(p []byte, off int64) (int, error) {
	t.mu.RLock()
	if d := t.direct; d != nil && t.aligned(p, off) {
		n, err := d.WriteAt(p, off)
		t.mu.RUnlock()
		if n > 0 || !errors.Is(err, syscall.EINVAL) {
			return n, err
		}
		t.dropDirect()
	} else {
		t.mu.RUnlock()
	}
	return t.cachedWrite(p, off)
}

// cachedWrite writes p at off through the page cache, once no direct write
// is running: on a block device, a write of part of a page reads the rest
// of it from the device first, and if a direct write to that rest were in
// flight, the page would keep the old bytes and write them back over it at
// the next flush.
func (t *FileTarget) cachedWrite(p []byte, off int64) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f.WriteAt(p, off)
}

// dropDirect closes the O_DIRECT descriptor, once no write uses it.
func (t *FileTarget) dropDirect() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.direct != nil {
		t.direct.Close() // nothing to lose: direct writes are not buffered
		t.direct = nil
	}
}

// UsePageCache turns direct I/O off: every later write goes through the
// page cache (and Sync flushes it). For comparisons with tools that write
// that way, and devices that misbehave with O_DIRECT.
func (t *FileTarget) UsePageCache() { t.dropDirect() }

// Direct reports whether aligned writes use direct I/O.
func (t *FileTarget) Direct() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.direct != nil
}

// ReadAt reads back what the target holds (through the page cache, which
// the kernel keeps coherent with direct writes).
func (t *FileTarget) ReadAt(p []byte, off int64) (int, error) { return t.f.ReadAt(p, off) }

// Size returns the size in bytes.
func (t *FileTarget) Size() int64 { return t.size }

// Name returns the path the target was opened with.
func (t *FileTarget) Name() string { return t.f.Name() }

// Sync flushes written data to the device.
func (t *FileTarget) Sync() error { return t.f.Sync() }

// Close closes the file.
func (t *FileTarget) Close() error {
	t.dropDirect()
	return t.f.Close()
}

// ZeroRange zeroes [off, off+n): on block devices fallocate(PUNCH_HOLE),
// which the kernel implements as a write-zeroes request that may unmap and
// never falls back to writing (so it fails, and is not tried again, on
// devices without write-zeroes; a loop device punches a hole in its backing
// file), then BLKZEROOUT (write-zeroes without unmapping, or zero writes by
// the kernel); both guarantee zeros on read-back. A punched hole in files,
// and plain zero writes where nothing else works.
func (t *FileTarget) ZeroRange(off, n int64) error {
	if n <= 0 {
		return nil
	}
	if !t.noZeroOut {
		err := t.zeroFast(off, n)
		if err == nil {
			return nil
		}
		t.noZeroOut = true
	}
	return t.writeZeros(off, n)
}

func (t *FileTarget) writeZeros(off, n int64) error {
	if t.zeros == nil {
		t.zeros = alignedBuf(1 << 20)
	}
	for n > 0 {
		c := min(n, int64(len(t.zeros)))
		if _, err := t.cachedWrite(t.zeros[:c], off); err != nil {
			return fmt.Errorf("write zeros at %d: %w", off, err)
		}
		off += c
		n -= c
	}
	return nil
}

// bufAlign is the alignment of the buffers alignedBuf returns: a page, which
// satisfies the direct I/O rules of any logical block size up to 4 KiB.
const bufAlign = 4096

// alignedBuf returns n bytes starting on a bufAlign boundary, so that whole
// buffers (and slices of them at multiples of bufAlign) can be written with
// direct I/O.
func alignedBuf(n int) []byte {
	b := make([]byte, n+bufAlign)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&b[0])) % bufAlign); r != 0 {
		skip = bufAlign - r
	}
	return b[skip : skip+n : skip+n]
}

// aligned says whether p can be written at off with direct I/O.
func (t *FileTarget) aligned(p []byte, off int64) bool {
	a := t.align
	return a > 0 && len(p) > 0 && off%int64(a) == 0 && len(p)%a == 0 &&
		uintptr(unsafe.Pointer(&p[0]))%uintptr(a) == 0
}
