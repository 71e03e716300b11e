package build

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// needs is what the kernel and the dynamic loader need besides a file to
// run it.
type needs struct {
	// Interp is the program interpreter: PT_INTERP of a dynamic ELF file,
	// or the "#!" interpreter of a script. Empty: none.
	Interp string
	// Needed are DT_NEEDED library names, in order.
	Needed []string
	// RPath and RunPath are the DT_RPATH and DT_RUNPATH folders, $ORIGIN
	// not yet expanded.
	RPath, RunPath []string
	// ELF tells an ELF file; Class and Machine are its own.
	ELF     bool
	Class   elf.Class
	Machine elf.Machine
}

// maxShebang bounds the "#!" line read from a script (Linux reads 256 bytes).
const maxShebang = 256

// readNeeds reads what r (a whole file of size n) needs to run. Files that
// are neither ELF nor scripts need nothing.
func readNeeds(r io.ReaderAt, n int64) (needs, error) {
	head := make([]byte, min(n, maxShebang))
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return needs{}, err
	}
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		f := strings.Fields(string(line))
		if len(f) == 0 {
			return needs{}, nil
		}
		return needs{Interp: f[0]}, nil
	case !bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		return needs{}, nil
	}
	f, err := elf.NewFile(io.NewSectionReader(r, 0, n))
	if err != nil {
		return needs{}, fmt.Errorf("read ELF: %w", err)
	}
	defer f.Close()
	nd := needs{ELF: true, Class: f.Class, Machine: f.Machine}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		if p.Filesz > 4096 {
			return needs{}, fmt.Errorf("read ELF: PT_INTERP of %d bytes", p.Filesz)
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return needs{}, fmt.Errorf("read ELF: PT_INTERP: %w", err)
		}
		nd.Interp = string(bytes.TrimRight(b, "\x00"))
	}
	// DynString finds the dynamic section by type; a file without one
	// (static) needs no libraries.
	if nd.Needed, err = f.DynString(elf.DT_NEEDED); err != nil {
		return needs{}, fmt.Errorf("read ELF: DT_NEEDED: %w", err)
	}
	for _, d := range []struct {
		tag elf.DynTag
		to  *[]string
	}{{elf.DT_RPATH, &nd.RPath}, {elf.DT_RUNPATH, &nd.RunPath}} {
		v, err := f.DynString(d.tag)
		if err != nil {
			return needs{}, fmt.Errorf("read ELF: %s: %w", d.tag, err)
		}
		for _, s := range v {
			for _, dir := range strings.Split(s, ":") {
				if dir != "" {
					*d.to = append(*d.to, dir)
				}
			}
		}
	}
	return nd, nil
}

// defaultLibDirs are the folders Debian's amd64 loader searches when
// neither the ELF file nor /etc/ld.so.cache says otherwise (`ld.so --help`).
var defaultLibDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"}

// libDirs is the search order of the loader for the libraries of an object
// at tree path origin: DT_RPATH (only without DT_RUNPATH), DT_RUNPATH, then
// the default folders. $ORIGIN is expanded; folders with other dynamic
// string tokens are skipped.
func libDirs(nd needs, origin string) []string {
	var dirs []string
	add := func(list []string) {
		for _, d := range list {
			d = strings.ReplaceAll(d, "${ORIGIN}", "$ORIGIN")
			d = strings.ReplaceAll(d, "$ORIGIN", path.Dir(origin))
			if strings.Contains(d, "$") || !path.IsAbs(d) {
				continue
			}
			dirs = append(dirs, path.Clean(d))
		}
	}
	if len(nd.RunPath) == 0 {
		add(nd.RPath)
	}
	add(nd.RunPath)
	return append(dirs, defaultLibDirs...)
}
