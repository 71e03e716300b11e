package filecopy

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// zeroBlock is the granule of zero detection: an all-zero aligned block of
// this size inside the source's data is not written (rsync -S).
const zeroBlock = 4096

// file copies a regular file's content: only the source's data segments
// (SEEK_DATA/SEEK_HOLE), without their all-zero blocks, then the size.
func (c *copier) file(src, dst string, st *unix.Stat_t) error {
	in, err := os.Open(src)
	if err != nil {
		return &Error{"open", src, err}
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return &Error{"create file", src, err}
	}
	if err := c.data(in, out, st.Size); err != nil {
		out.Close()
		return &Error{"copy data", src, err}
	}
	if err := out.Truncate(st.Size); err != nil {
		out.Close()
		return &Error{"set size", src, err}
	}
	if err := out.Close(); err != nil {
		return &Error{"close", src, err}
	}
	return nil
}

// data copies every data segment of in to the same offsets of out.
func (c *copier) data(in, out *os.File, size int64) error {
	fd := int(in.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole up to the end
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			start = off // no hole support: everything is data
		} else if err != nil {
			return fmt.Errorf("seek data at %d: %w", off, err)
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			end = size
		}
		end = min(end, size)
		if err := c.segment(in, out, start, end); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// segment copies [start, end) through the buffer, skipping zero blocks.
func (c *copier) segment(in, out *os.File, start, end int64) error {
	for off := start; off < end; {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(len(c.buf)), end-off))
		got, err := in.ReadAt(c.buf[:n], off)
		if got < n {
			if err == nil {
				err = fmt.Errorf("short read")
			}
			return fmt.Errorf("read at %d: %w", off, err)
		}
		if err := c.writeSparse(out, c.buf[:n], off); err != nil {
			return err
		}
		off += int64(n)
		c.res.Bytes += int64(n)
		c.report(false)
	}
	return nil
}

// writeSparse writes b at off except its aligned all-zero blocks.
func (c *copier) writeSparse(out *os.File, b []byte, off int64) error {
	for i := 0; i < len(b); {
		// Blocks follow the file's alignment, not the buffer's.
		j := min(len(b), i+zeroBlock-int((off+int64(i))%zeroBlock))
		if allZero(b[i:j]) {
			i = j
			continue
		}
		k := j // extend the write over the following non-zero blocks
		for k < len(b) {
			next := min(len(b), k+zeroBlock)
			if allZero(b[k:next]) {
				break
			}
			k = next
		}
		if _, err := out.WriteAt(b[i:k], off+int64(i)); err != nil {
			return fmt.Errorf("write at %d: %w", off+int64(i), err)
		}
		c.res.Written += int64(k - i)
		i = k
	}
	return nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
