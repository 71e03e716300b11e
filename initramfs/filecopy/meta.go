package filecopy

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// meta gives dst the owner, mode, extended attributes, ACLs and times of
// src, in that order: chown clears setuid/setgid bits and
// security.capability, so they come after it; times come last, as setting
// the others changes ctime only. On vfat only the times are kept.
func (c *copier) meta(src, dst string, st *unix.Stat_t, vfat bool) error {
	link := st.Mode&unix.S_IFMT == unix.S_IFLNK
	if !vfat {
		if err := unix.Fchownat(unix.AT_FDCWD, dst, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &Error{"set owner", src, err}
		}
		if !link {
			if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
				return &Error{"set mode", src, err}
			}
		}
		if err := c.xattrs(src, dst); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &Error{"set times", src, err}
	}
	return nil
}

// copied reports whether an extended attribute is copied: the user,
// trusted and security namespaces, and POSIX ACLs among system ones (what
// rsync -AX keeps when run as root). XFS shows root its ACLs a second time
// as trusted.SGI_ACL_FILE and trusted.SGI_ACL_DEFAULT: those are its
// storage of the system.posix_acl_* values, not attributes of their own.
func copied(name string) bool {
	switch {
	case name == "trusted.SGI_ACL_FILE", name == "trusted.SGI_ACL_DEFAULT":
		return false
	case strings.HasPrefix(name, "user."), strings.HasPrefix(name, "trusted."), strings.HasPrefix(name, "security."):
		return true
	case name == "system.posix_acl_access", name == "system.posix_acl_default":
		return true
	}
	return false
}

// xattrs copies src's extended attributes (ACLs included) to dst.
func (c *copier) xattrs(src, dst string) error {
	names, err := listXattr(src)
	if err != nil {
		return &Error{"list extended attributes", src, err}
	}
	for _, name := range names {
		if !copied(name) {
			continue
		}
		v, err := getXattr(src, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile (not on a read-only source)
		}
		if err != nil {
			return &Error{"read extended attribute " + name, src, err}
		}
		if err := unix.Lsetxattr(dst, name, v, 0); err != nil {
			return &Error{"set extended attribute " + name, src, err}
		}
		c.res.Xattrs++
	}
	return nil
}

// listXattr returns the names of path's extended attributes.
func listXattr(path string) ([]string, error) {
	size := 1024
	for {
		b := make([]byte, size)
		n, err := unix.Llistxattr(path, b)
		if errors.Is(err, unix.ERANGE) {
			if size, err = unix.Llistxattr(path, nil); err != nil {
				return nil, err
			}
			size += 256
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range strings.Split(string(b[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

// getXattr returns one attribute's value.
func getXattr(path, name string) ([]byte, error) {
	size := 256
	for {
		b := make([]byte, size)
		n, err := unix.Lgetxattr(path, name, b)
		if errors.Is(err, unix.ERANGE) {
			if size, err = unix.Lgetxattr(path, name, nil); err != nil {
				return nil, err
			}
			size += 64
			continue
		}
		if err != nil {
			return nil, err
		}
		return b[:n], nil
	}
}

// isVFAT reports whether path is on a FAT file system.
func isVFAT(path string) bool {
	var s unix.Statfs_t
	return unix.Statfs(path, &s) == nil && s.Type == unix.MSDOS_SUPER_MAGIC
}

func typeName(typ uint32) string {
	switch typ {
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	}
	return fmt.Sprintf("file of type %#o", typ)
}
