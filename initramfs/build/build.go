package build

import (
	"fmt"
	"os"
	"path"
	"sort"
)

// Mode bits of cpio records (Linux st_mode).
const (
	modeType = 0o170000
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChar = 0o020000
	modeLink = 0o120000
)

// entry is one file of the initramfs before it is written.
type entry struct {
	name         string // relative, no leading slash
	mode         uint64 // type and permission bits
	src          string // file to copy, or
	data         []byte // content (a symbolic link's target)
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
func (t tree) link(name, target string) {
	t[name] = entry{name: name, mode: modeLink | 0o777, data: []byte(target)}
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
		m := moduleSet{dir: o.ModulesDir, want: o.Modules, firmware: o.FirmwareDir}
		if err := m.add(t, &rep); err != nil {
			return rep, err
		}
	}
	entries := t.sorted()
	rep.Files = len(entries)
	raw, n, err := writeArchive(o.Output, o.Compression, entries)
	if err != nil {
		return rep, err
	}
	rep.RawBytes = raw
	rep.Bytes = n
	return rep, nil
}
