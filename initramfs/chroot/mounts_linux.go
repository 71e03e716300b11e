package chroot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// mounts records what setup mounted and created, to undo it in reverse.
type mounts struct {
	root    string
	mounted []string // absolute paths, in mount order
	created []string // files and folders to remove afterwards
	links   []string // made in the chroot's /dev, removed before unmounting it
	tmpDir  string   // holds the files bound over /proc/cmdline and resolv.conf
}

// setup mounts the API file systems and binds the cmdline and resolv.conf.
func (m *mounts) setup(o Options) error {
	steps := []struct {
		fs, dir, opts string
		flags         uintptr
		need          bool
	}{
		{"proc", "proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, true},
		{"sysfs", "sys", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, true},
		{"efivarfs", "sys/firmware/efi/efivars", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, o.UEFI},
		{"devtmpfs", "dev", "mode=0755", unix.MS_NOSUID, true},
		{"devpts", "dev/pts", "newinstance,ptmxmode=0666,mode=0620,gid=5", unix.MS_NOSUID | unix.MS_NOEXEC, true},
		{"tmpfs", "dev/shm", "mode=1777", unix.MS_NOSUID | unix.MS_NODEV, true},
		{"tmpfs", "run", "mode=0755", unix.MS_NOSUID | unix.MS_NODEV, true},
	}
	for _, s := range steps {
		if !s.need {
			continue
		}
		if err := m.mount(s.fs, s.dir, s.fs, s.flags, s.opts); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "byoi-chroot-")
	if err != nil {
		return err
	}
	m.tmpDir = dir
	cmdline := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(cmdline, []byte(o.Cmdline+"\n"), 0o444); err != nil {
		return err
	}
	if err := m.bind(cmdline, "proc/cmdline"); err != nil {
		return err
	}
	if err := m.devLinks(o.DevLinks); err != nil {
		return err
	}
	if o.ResolvConf != nil {
		return m.resolvConf(o.ResolvConf)
	}
	return nil
}

// mount mounts fs on root/dir, creating dir if needed.
func (m *mounts) mount(source, dir, fstype string, flags uintptr, opts string) error {
	target := filepath.Join(m.root, dir)
	if err := m.mkdirAll(target); err != nil {
		return err
	}
	if err := unix.Mount(source, target, fstype, flags, opts); err != nil {
		return fmt.Errorf("mount %s on %s: %w", fstype, target, err)
	}
	m.mounted = append(m.mounted, target)
	return nil
}

// bind binds file over root/dst, which must exist as a file (created, and
// removed afterwards, when it does not).
func (m *mounts) bind(file, dst string) error {
	target := filepath.Join(m.root, dst)
	if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
		if err := m.mkdirAll(filepath.Dir(target)); err != nil {
			return err
		}
		if err := os.WriteFile(target, nil, 0o644); err != nil {
			return err
		}
		m.created = append(m.created, target)
	}
	if err := unix.Mount(file, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s over %s: %w", file, target, err)
	}
	m.mounted = append(m.mounted, target)
	return nil
}

// resolvConf gives the chroot the installer's DNS servers. When the image's
// /etc/resolv.conf is a link into /run (systemd-resolved, resolvconf), the
// file it points to is written on the chroot's own /run; otherwise a file
// is bound over it, so the image's file is unchanged afterwards.
func (m *mounts) resolvConf(conf []byte) error {
	etcResolv := filepath.Join(m.root, "etc/resolv.conf")
	if target, err := os.Readlink(etcResolv); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join("/etc", target)
		}
		target = filepath.Clean(target)
		if strings.HasPrefix(target, "/var/run/") {
			target = strings.TrimPrefix(target, "/var")
		}
		if strings.HasPrefix(target, "/run/") {
			p := filepath.Join(m.root, target)
			if err := m.mkdirAll(filepath.Dir(p)); err != nil {
				return err
			}
			return os.WriteFile(p, conf, 0o644) // on the chroot's tmpfs /run
		}
		// A link elsewhere is left alone: binding over it would follow it
		// outside the chroot.
		return nil
	}
	file := filepath.Join(m.tmpDir, "resolv.conf")
	if err := os.WriteFile(file, conf, 0o644); err != nil {
		return err
	}
	return m.bind(file, "etc/resolv.conf")
}

// mkdirAll creates dir and its missing parents, remembering the new ones.
func (m *mounts) mkdirAll(dir string) error {
	var missing []string
	for d := dir; d != m.root && d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create %s: %w", missing[i], err)
		}
		m.created = append(m.created, missing[i])
	}
	return nil
}

// devLinks makes the links of Options.DevLinks in the chroot's /dev,
// relative like udev's (disk/by-uuid/X → ../../md1). A name that exists
// already is left alone.
func (m *mounts) devLinks(links map[string]string) error {
	dev := filepath.Join(m.root, "dev")
	names := make([]string, 0, len(links))
	for n := range links {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		target := links[n]
		if !filepath.IsLocal(n) || !strings.HasPrefix(target, "/dev/") {
			return fmt.Errorf("link %s → %s: a name under /dev and a device in /dev are expected", n, target)
		}
		p := filepath.Join(dev, n)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		var made []string
		for d := filepath.Dir(p); d != dev; d = filepath.Dir(d) {
			if _, err := os.Lstat(d); err == nil {
				break
			}
			made = append(made, d)
		}
		for i := len(made) - 1; i >= 0; i-- {
			if err := os.Mkdir(made[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("create %s: %w", made[i], err)
			}
			m.links = append(m.links, made[i])
		}
		rel, err := filepath.Rel(filepath.Dir(filepath.Join("/dev", n)), target)
		if err != nil {
			return err
		}
		if err := os.Symlink(rel, p); err != nil {
			return fmt.Errorf("link %s: %w", p, err)
		}
		m.links = append(m.links, p)
	}
	return nil
}

// undo unmounts in reverse order (lazily when busy) and removes what was
// created.
func (m *mounts) undo() {
	for i := len(m.links) - 1; i >= 0; i-- {
		os.Remove(m.links[i])
	}
	for i := len(m.mounted) - 1; i >= 0; i-- {
		if err := unix.Unmount(m.mounted[i], 0); err != nil {
			unix.Unmount(m.mounted[i], unix.MNT_DETACH)
		}
	}
	for i := len(m.created) - 1; i >= 0; i-- {
		os.Remove(m.created[i])
	}
	if m.tmpDir != "" {
		os.RemoveAll(m.tmpDir)
	}
}
