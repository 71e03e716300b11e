package build

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// closure collects what a set of files needs in a tree of unpacked
// packages: the files themselves (symbolic links kept as links, and
// followed), script interpreters, ELF program interpreters (the dynamic
// loader) and DT_NEEDED libraries, recursively, each found where the
// loader would find it.
type closure struct {
	fs    rootFS
	items map[string]item // tree path → what goes there
	libs  []string        // library paths, in the order found
	lib   map[string]bool // the same, as a set
	read  map[string]bool // real paths whose needs were read
}

// item is one file of a closure: a symbolic link (target set) or a copy of
// a regular file (src set).
type item struct {
	target string
	src    string
	perm   uint64
}

func newClosure(dir string) *closure {
	return &closure{fs: rootFS{dir: dir}, items: map[string]item{}, lib: map[string]bool{}, read: map[string]bool{}}
}

// add puts tree path p (and what it needs) in the closure. why says who
// wanted it, for errors.
func (c *closure) add(p, why string) error {
	real, hops, err := c.fs.resolve(p)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", why, p, err)
	}
	for _, h := range hops {
		c.items[h.name] = item{target: h.target}
	}
	fi, err := os.Lstat(c.fs.host(real))
	if err != nil {
		return fmt.Errorf("%s: %s: %w", why, p, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %s is not a regular file (%s)", why, real, fi.Mode().Type())
	}
	c.items[real] = item{src: c.fs.host(real), perm: unixPerm(fi.Mode())}
	if c.read[real] {
		return nil
	}
	c.read[real] = true
	return c.addNeeds(real, fi.Size())
}

// addNeeds adds the interpreter and libraries of the regular file at real.
func (c *closure) addNeeds(real string, size int64) error {
	f, err := os.Open(c.fs.host(real))
	if err != nil {
		return err
	}
	nd, err := readNeeds(f, size)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", real, err)
	}
	if nd.Interp != "" {
		if err := c.add(nd.Interp, "interpreter of "+real); err != nil {
			return err
		}
	}
	for _, name := range nd.Needed {
		lib, err := c.findLib(name, nd, real)
		if err != nil {
			return err
		}
		if !c.lib[lib] {
			c.lib[lib] = true
			c.libs = append(c.libs, lib)
		}
		if err := c.add(lib, "library of "+real); err != nil {
			return err
		}
	}
	return nil
}

// findLib returns the tree path the loader would open for library name,
// needed by the ELF object at origin: the first candidate of its search
// folders that is an ELF file of the same class and machine.
func (c *closure) findLib(name string, nd needs, origin string) (string, error) {
	if strings.Contains(name, "/") {
		if !path.IsAbs(name) {
			return "", fmt.Errorf("%s needs library %q: a relative path", origin, name)
		}
		return name, nil
	}
	dirs := libDirs(nd, origin)
	for _, d := range dirs {
		p := path.Join(d, name)
		real, _, err := c.fs.resolve(p)
		if err != nil {
			continue
		}
		if c.sameArch(real, nd) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s needs library %s: not found in %s (searched %s); is its package fetched?",
		origin, name, c.fs.dir, strings.Join(dirs, ":"))
}

// sameArch reports whether the file at tree path real is an ELF object of
// nd's class and machine.
func (c *closure) sameArch(real string, nd needs) bool {
	f, err := elf.Open(c.fs.host(real))
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Class == nd.Class && f.Machine == nd.Machine
}

// unixPerm turns Go's file mode into the permission bits of st_mode.
func unixPerm(m fs.FileMode) uint64 {
	p := uint64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
