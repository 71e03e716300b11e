package build

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/byoi/byoi/initramfs/kmod"
)

// moduleSet says which kernel modules of one release go into an archive.
type moduleSet struct {
	dir  string   // /lib/modules/<release>
	want []string // modules whose files go in, with their dependencies
	// have are modules an archive unpacked before this one holds (the
	// initrd under a layer): their files are not repeated, but the index
	// files written cover them too, since they replace the earlier ones.
	have     []string
	firmware string // FirmwareDir; "" for none
}

// add puts the wanted modules, their dependencies, the index files
// (modules.dep and modules.alias filtered to the modules present with
// this archive and those before it, modules.builtin) and the firmware the
// added modules declare under lib/modules/<release>.
func (m moduleSet) add(t tree, rep *Report) error {
	rel := filepath.Base(m.dir)
	rep.KernelRelease = rel
	deps, err := readIndex(m.dir, "modules.dep", kmod.ParseDep)
	if err != nil {
		return err
	}
	builtin, err := readIndex(m.dir, "modules.builtin", kmod.ParseBuiltin)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var want, have []string
	seen := map[string]bool{}
	for i, name := range append(append([]string(nil), m.have...), m.want...) {
		n := kmod.Name(name)
		mine := i >= len(m.have)
		switch {
		case seen[n]:
		case builtin[n]:
			if mine {
				rep.Builtin = append(rep.Builtin, n)
			}
		case mine:
			want = append(want, n)
		default:
			have = append(have, n)
		}
		seen[n] = true
	}
	before, err := deps.Closure(have)
	if err != nil {
		return fmt.Errorf("build initramfs from %s: modules loaded before: %w", m.dir, err)
	}
	all, err := deps.Closure(append(have, want...))
	if err != nil {
		return fmt.Errorf("build initramfs from %s: %w", m.dir, err)
	}
	present := map[string]bool{}
	for _, p := range before {
		present[p] = true
	}
	base := "lib/modules/" + rel + "/"
	included := map[string]bool{}
	fw := map[string]bool{}
	for _, p := range all {
		included[kmod.Name(p)] = true
		if present[p] {
			continue
		}
		src := filepath.Join(m.dir, filepath.FromSlash(p))
		t.file(base+p, src, 0o644)
		rep.Modules = append(rep.Modules, kmod.Name(p))
		if m.firmware == "" {
			continue
		}
		b, err := kmod.ReadFile(src)
		if err != nil {
			return fmt.Errorf("build initramfs: %w", err)
		}
		names, err := kmod.Firmware(b)
		if err != nil {
			return fmt.Errorf("build initramfs: module %s: %w", p, err)
		}
		for _, n := range names {
			fw[n] = true
		}
	}
	var dep bytes.Buffer
	if err := deps.WriteDep(&dep, all); err != nil {
		return err
	}
	t.data(base+"modules.dep", dep.Bytes(), 0o644)
	if aliases, err := readIndex(m.dir, "modules.alias", kmod.ParseAlias); err == nil {
		var a bytes.Buffer
		if err := kmod.WriteAlias(&a, aliases, included); err != nil {
			return err
		}
		t.data(base+"modules.alias", a.Bytes(), 0o644)
	} else if !os.IsNotExist(err) {
		return err
	}
	if builtin != nil {
		t.file(base+"modules.builtin", filepath.Join(m.dir, "modules.builtin"), 0o644)
	}
	return addFirmware(t, m.firmware, fw, rep)
}

// addFirmware adds the declared firmware files found in dir.
func addFirmware(t tree, dir string, names map[string]bool, rep *Report) error {
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		clean := path.Clean("/" + n)[1:]
		src := filepath.Join(dir, filepath.FromSlash(clean))
		fi, err := os.Stat(src) // follows links: Debian ships some as symlinks
		switch {
		case err == nil && fi.Mode().IsRegular():
			t.file("lib/firmware/"+clean, src, 0o644)
			rep.Firmware = append(rep.Firmware, clean)
		case err == nil || os.IsNotExist(err):
			rep.MissingFirmware = append(rep.MissingFirmware, clean)
		default:
			return fmt.Errorf("build initramfs: firmware %s: %w", n, err)
		}
	}
	return nil
}

// readIndex opens and parses one index file of the modules folder.
func readIndex[T any](dir, name string, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return v, nil
}
