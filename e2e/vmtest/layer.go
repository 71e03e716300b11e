package vmtest

import (
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// File is an extra file of the VM (Dst relative to its root).
type File struct {
	Src, Dst string
	Mode     os.FileMode
}

// layer stages a merged-/usr tree to be packed as a cpio archive.
type layer struct {
	dir  string
	libs map[string]bool
}

// libDirs are searched for DT_NEEDED libraries, in order (Debian amd64).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

func newLayer(dir string) *layer {
	l := &layer{dir: dir, libs: map[string]bool{}}
	os.MkdirAll(filepath.Join(dir, "usr"), 0o755)
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		os.MkdirAll(filepath.Join(dir, "usr", d), 0o755)
		os.Symlink("usr/"+d, filepath.Join(dir, d))
	}
	return l
}

// usrPath maps a host path to its merged-/usr place in the layer.
func usrPath(p string) string {
	p = filepath.Clean(p)
	for _, d := range []string{"/bin/", "/sbin/", "/lib/", "/lib64/"} {
		if strings.HasPrefix(p, d) {
			return "usr" + p
		}
	}
	return strings.TrimPrefix(p, "/")
}

// file copies src (following links) to dst in the layer.
func (l *layer) file(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	p := filepath.Join(l.dir, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, mode)
}

func (l *layer) data(dst string, b []byte) error {
	p := filepath.Join(l.dir, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

// tree copies a folder (if it exists).
func (l *layer) tree(src, dst string) error {
	if _, err := os.Stat(src); os.IsNotExist(err) {
		return nil
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		return l.file(p, filepath.Join(dst, rel), info.Mode().Perm())
	})
}

// program adds a host program (a name found in PATH, /usr/sbin or /sbin,
// or a path) and the shared libraries it needs.
func (l *layer) program(name string) error {
	path := name
	if !strings.Contains(name, "/") {
		var err error
		if path, err = lookPath(name); err != nil {
			return err
		}
	}
	if err := l.file(path, usrPath(path), 0o755); err != nil {
		return err
	}
	return l.needs(path)
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name), nil
		}
	}
	return "", fmt.Errorf("program %s not found on this machine (scripts/install-deps.sh test)", name)
}

// needs adds the interpreter and DT_NEEDED libraries of an ELF file,
// recursively. A static program needs nothing.
func (l *layer) needs(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return nil // a script
	}
	defer f.Close()
	var want []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err == nil {
				want = append(want, strings.TrimRight(string(b), "\x00"))
			}
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for _, lib := range libs {
		p, err := findLib(lib)
		if err != nil {
			return fmt.Errorf("%s needs %s: %w", path, lib, err)
		}
		want = append(want, p)
	}
	for _, p := range want {
		if l.libs[p] {
			continue
		}
		l.libs[p] = true
		if err := l.file(p, usrPath(p), 0o755); err != nil {
			return err
		}
		if err := l.needs(p); err != nil {
			return err
		}
	}
	return nil
}

func findLib(name string) (string, error) {
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found in %s", strings.Join(libDirs, ", "))
}

// link adds a symbolic link.
func (l *layer) link(dst, target string) error {
	p := filepath.Join(l.dir, dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.Symlink(target, p)
}

// pack writes the layer as an uncompressed newc cpio archive, owned by root.
func (l *layer) pack(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "sh", "-c", "find . -mindepth 1 -print0 | cpio --null -o -H newc -R 0:0 --quiet > "+out)
	cmd.Dir = l.dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cpio: %v: %s", err, b)
	}
	return nil
}

// ToolsArchive writes an uncompressed cpio archive (to be appended to an
// initramfs) holding the host programs (with their libraries, in a
// merged-/usr tree) and the links (path → target) given, staged in dir.
func ToolsArchive(ctx context.Context, dir string, programs []string, links map[string]string, out string) error {
	l := newLayer(dir)
	for _, p := range programs {
		if err := l.program(p); err != nil {
			return err
		}
	}
	for dst, target := range links {
		if err := l.link(dst, target); err != nil {
			return err
		}
	}
	return l.pack(ctx, out)
}

// Concat joins initramfs archives into dst (see concat).
func Concat(dst string, srcs ...string) error { return concat(dst, srcs...) }
