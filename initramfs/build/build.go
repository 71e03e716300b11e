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

// Mode bits of cpio records (Linux st_mode).
const (
	modeType = 0o170000
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChar = 0o020000
)

// entry is one file of the initramfs before it is written.
type entry struct {
	name         string // relative, no leading slash
	mode         uint64 // type and permission bits
	src          string // file to copy, or
	data         []byte // content
	rmajor, rmin uint64 // device numbers
}

// tree collects entries by name; parents are added when written.
type tree map[string]entry

func (t tree) file(name, src string, perm uint64) {
	t[name] = entry{name: name, mode: modeFile | perm, src: src}
}
func (t tree) data(name string, b []byte, perm uint64) {
	t[name] = entry{name: name, mode: modeFile | perm, data: b}
}
func (t tree) dir(name string) { t[name] = entry{name: name, mode: modeDir | 0o755} }
func (t tree) char(name string, perm, major, minor uint64) {
	t[name] = entry{name: name, mode: modeChar | perm, rmajor: major, rmin: minor}
}

// sorted returns the entries with every missing parent folder added, in
// name order (a parent sorts before its children).
func (t tree) sorted() []entry {
	for name := range t {
		for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := t[d]; !ok {
				t.dir(d)
			}
		}
	}
	out := make([]entry, 0, len(t))
	for _, e := range t {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Build writes the initramfs described by o and reports what went in.
func Build(o Options) (Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Output: o.Output}
	t := tree{}
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "etc", "root", "lib/firmware"} {
		t.dir(d)
	}
	// The kernel opens /dev/console for init before anything is mounted.
	t.char("dev/console", 0o600, 5, 1)
	t.char("dev/null", 0o666, 1, 3)
	if fi, err := os.Stat(o.AgentBinary); err != nil {
		return rep, fmt.Errorf("build initramfs: agent binary: %w", err)
	} else if !fi.Mode().IsRegular() {
		return rep, fmt.Errorf("build initramfs: agent binary %s is not a regular file", o.AgentBinary)
	}
	t.file("init", o.AgentBinary, 0o755)
	if o.CABundle != "" {
		if _, err := os.Stat(o.CABundle); err != nil {
			return rep, fmt.Errorf("build initramfs: CA bundle: %w", err)
		}
		t.file("etc/ssl/certs/ca-certificates.crt", o.CABundle, 0o644)
	}
	if o.ModulesDir != "" {
		if err := addModules(t, o, &rep); err != nil {
			return rep, err
		}
	}
	entries := t.sorted()
	rep.Files = len(entries)
	raw, n, err := writeArchive(o, entries)
	if err != nil {
		return rep, err
	}
	rep.RawBytes = raw
	rep.Bytes = n
	return rep, nil
}

// addModules adds the chosen modules, their dependencies, filtered index
// files and declared firmware under lib/modules/<release>.
func addModules(t tree, o Options, rep *Report) error {
	rel := filepath.Base(o.ModulesDir)
	rep.KernelRelease = rel
	deps, err := readIndex(o.ModulesDir, "modules.dep", kmod.ParseDep)
	if err != nil {
		return err
	}
	builtin, err := readIndex(o.ModulesDir, "modules.builtin", kmod.ParseBuiltin)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var want []string
	seen := map[string]bool{}
	for _, m := range o.Modules {
		n := kmod.Name(m)
		switch {
		case seen[n]:
		case builtin[n]:
			rep.Builtin = append(rep.Builtin, n)
		default:
			want = append(want, n)
		}
		seen[n] = true
	}
	paths, err := deps.Closure(want)
	if err != nil {
		return fmt.Errorf("build initramfs from %s: %w", o.ModulesDir, err)
	}
	base := "lib/modules/" + rel + "/"
	included := map[string]bool{}
	fw := map[string]bool{}
	for _, p := range paths {
		src := filepath.Join(o.ModulesDir, filepath.FromSlash(p))
		t.file(base+p, src, 0o644)
		included[kmod.Name(p)] = true
		rep.Modules = append(rep.Modules, kmod.Name(p))
		if o.FirmwareDir == "" {
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
	if err := deps.WriteDep(&dep, paths); err != nil {
		return err
	}
	t.data(base+"modules.dep", dep.Bytes(), 0o644)
	if aliases, err := readIndex(o.ModulesDir, "modules.alias", kmod.ParseAlias); err == nil {
		var a bytes.Buffer
		if err := kmod.WriteAlias(&a, aliases, included); err != nil {
			return err
		}
		t.data(base+"modules.alias", a.Bytes(), 0o644)
	} else if !os.IsNotExist(err) {
		return err
	}
	if builtin != nil {
		t.file(base+"modules.builtin", filepath.Join(o.ModulesDir, "modules.builtin"), 0o644)
	}
	return addFirmware(t, o.FirmwareDir, fw, rep)
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
