// Package filecopy copies a directory tree onto another, keeping what
// `rsync -aHAXS` keeps: owners, modes (setuid/setgid/sticky included),
// access and modification times, hard links, symbolic links, device nodes,
// FIFOs, sockets, sparse files (holes of the source, and runs of zero
// blocks, are left unallocated), extended attributes (user, trusted and
// security namespaces: security.capability survives, as it is set after the
// owner) and POSIX ACLs. BYOLinux copies the image's file system, mounted
// read-only, onto the file systems it created for the layout.
//
//	res, err := filecopy.Copy(ctx, "/run/byoi/image", "/run/byoi/target", filecopy.Options{
//		Progress: func(done, total int64) { … },
//	})
//
// Copy never follows a symbolic link. It walks the source one directory at
// a time (memory grows with the tree's depth and the number of multiply
// linked files, not with its size). A destination directory that exists
// (a mount point of the layout) is reused and gets the source's metadata.
// On a vfat destination (the EFI system partition) owners, modes and
// extended attributes are not kept, as vfat has none; links, device nodes,
// FIFOs and sockets there are errors.
package filecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Options tune Copy. The zero value works.
type Options struct {
	// Progress, if set, receives the regular-file bytes copied so far and an
	// estimate of the total (the source file system's used bytes), at most
	// every ProgressEvery bytes and once at the end (done == total then).
	Progress      func(done, total int64)
	ProgressEvery int64 // default 8 MiB
	// BufferSize is the read/write buffer (default 1 MiB).
	BufferSize int
	Logger     *slog.Logger
}

// Result counts what Copy made.
type Result struct {
	Dirs, Files, Symlinks, Devices, FIFOs, Sockets int64
	// HardLinks counts names linked to a file copied before.
	HardLinks int64
	// Bytes is the size of the regular files copied; Written the bytes
	// actually written (holes and zero blocks are skipped).
	Bytes, Written int64
	Xattrs         int64
}

// Error is a failure to copy one path.
type Error struct {
	Op   string // e.g. "copy data", "set owner", "create device node"
	Path string // source path
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// copier is the state of one Copy.
type copier struct {
	ctx   context.Context
	o     Options
	res   Result
	buf   []byte
	links map[linkKey]string // first destination of a multiply linked file on each target fs
	total int64
	next  int64 // progress threshold
}

// linkKey is a source inode and the target file system its copy is on.
type linkKey struct{ dev, ino, dstDev uint64 }

// Copy copies the tree under src into dst, which must exist (its own
// metadata is set from src's). It stops at the first error.
func Copy(ctx context.Context, src, dst string, o Options) (Result, error) {
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 8 << 20
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 1 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &copier{ctx: ctx, o: o, buf: make([]byte, o.BufferSize), links: map[linkKey]string{}}
	var sfs unix.Statfs_t
	if err := unix.Statfs(src, &sfs); err == nil {
		c.total = int64(sfs.Blocks-sfs.Bfree) * int64(sfs.Bsize)
	}
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return c.res, &Error{"stat", src, err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return c.res, &Error{"copy", src, errors.New("not a directory")}
	}
	if err := c.dir(src, dst, &st); err != nil {
		return c.res, err
	}
	c.total = c.res.Bytes
	c.report(true)
	return c.res, nil
}

// dir copies the entries of directory src into dst, then dst's metadata.
func (c *copier) dir(src, dst string, st *unix.Stat_t) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	if err := unix.Mkdir(dst, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return &Error{"create directory", src, err}
	}
	c.res.Dirs++
	vfat := isVFAT(dst)
	var dstSt unix.Stat_t
	if err := unix.Stat(dst, &dstSt); err != nil {
		return &Error{"stat target directory", src, err}
	}
	f, err := os.Open(src)
	if err != nil {
		return &Error{"open directory", src, err}
	}
	defer f.Close()
	for {
		names, err := f.Readdirnames(dirChunk)
		for _, n := range diskOrder(src, names) {
			if err := c.entry(filepath.Join(src, n), filepath.Join(dst, n), dstSt.Dev, vfat); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return &Error{"read directory", src, err}
		}
	}
	return c.meta(src, dst, st, vfat)
}

// dirChunk bounds the names of one directory held (and sorted) at once.
const dirChunk = 8192

// entry copies one name of any type into a directory on the target file
// system dstDev (vfat or not).
func (c *copier) entry(src, dst string, dstDev uint64, vfat bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return &Error{"stat", src, err}
	}
	typ := st.Mode & unix.S_IFMT
	if typ == unix.S_IFDIR {
		return c.dir(src, dst, &st)
	}
	if st.Nlink > 1 {
		// Names of one inode that land on different file systems of the
		// layout are copied once per file system.
		key := linkKey{st.Dev, st.Ino, dstDev}
		if first, ok := c.links[key]; ok {
			if vfat {
				return &Error{"copy", src, fmt.Errorf("a hard link cannot be stored on the vfat file system of %s", filepath.Dir(dst))}
			}
			if err := unix.Link(first, dst); err != nil {
				return &Error{"hard link", src, err}
			}
			c.res.HardLinks++
			return nil
		}
		c.links[key] = dst
	}
	var err error
	switch typ {
	case unix.S_IFREG:
		err = c.file(src, dst, &st)
		c.res.Files++
	case unix.S_IFLNK:
		err = c.symlink(src, dst)
		c.res.Symlinks++
	case unix.S_IFCHR, unix.S_IFBLK:
		err = c.node(src, dst, &st, "create device node")
		c.res.Devices++
	case unix.S_IFIFO:
		err = c.node(src, dst, &st, "create FIFO")
		c.res.FIFOs++
	case unix.S_IFSOCK:
		err = c.node(src, dst, &st, "create socket")
		c.res.Sockets++
	default:
		return &Error{"copy", src, fmt.Errorf("unknown file type %#o", typ)}
	}
	if err != nil {
		if vfat && typ != unix.S_IFREG {
			return &Error{"copy", src, fmt.Errorf("a %s cannot be stored on the vfat file system of %s", typeName(typ), filepath.Dir(dst))}
		}
		return err
	}
	return c.meta(src, dst, &st, vfat)
}

func (c *copier) symlink(src, dst string) error {
	target, err := os.Readlink(src)
	if err != nil {
		return &Error{"read symbolic link", src, err}
	}
	if err := unix.Symlink(target, dst); err != nil {
		return &Error{"create symbolic link", src, err}
	}
	return nil
}

func (c *copier) node(src, dst string, st *unix.Stat_t, op string) error {
	if err := unix.Mknod(dst, st.Mode&unix.S_IFMT|0o600, int(st.Rdev)); err != nil {
		return &Error{op, src, err}
	}
	return nil
}

// report calls Progress when enough bytes went by, or at the end.
func (c *copier) report(final bool) {
	if c.o.Progress == nil || (!final && c.res.Bytes < c.next) {
		return
	}
	c.next = c.res.Bytes + c.o.ProgressEvery
	c.o.Progress(c.res.Bytes, max(c.total, c.res.Bytes))
}
