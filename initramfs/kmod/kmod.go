// Package kmod reads the module index files of a Linux kernel's
// /lib/modules/<release> folder (modules.dep, modules.alias,
// modules.builtin) and answers the two questions byoi asks of them: which
// files must be present, in which load order, for a set of modules; and which
// modules claim a device's modalias. Both the initramfs builder and the
// installer agent use it.
//
//	deps, err := kmod.ParseDep(f) // modules.dep
//	paths, err := deps.Closure([]string{"virtio_net"})
//	// paths: dependencies first, the module last, relative to the folder
package kmod

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// Name returns the module name of a module file path or of a name written
// with dashes: "kernel/drivers/net/virtio_net.ko.xz" → "virtio_net",
// "crc32c-intel" → "crc32c_intel".
func Name(p string) string {
	b := path.Base(p)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	b = strings.TrimSuffix(b, ".ko")
	return strings.ReplaceAll(b, "-", "_")
}

// Deps is a parsed modules.dep: module name → its entry.
type Deps map[string]Entry

// Entry is one line of modules.dep.
type Entry struct {
	Path string   // file path relative to the modules folder
	Deps []string // paths of the modules it needs, as listed
}

// maxLine bounds one modules.dep or modules.alias line.
const maxLine = 1 << 20

// eachLine calls fn with every line of the index file r (named file in
// errors) that is neither blank nor a comment, trimmed, and its number. It
// stops at fn's first error.
func eachLine(r io.Reader, file string, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	return nil
}

// ParseDep parses modules.dep ("path: dep dep …" per line).
func ParseDep(r io.Reader) (Deps, error) {
	d := Deps{}
	err := eachLine(r, "modules.dep", func(n int, line string) error {
		p, rest, ok := strings.Cut(line, ":")
		p = strings.TrimSpace(p)
		if !ok || p == "" || !strings.Contains(path.Base(p), ".ko") {
			return fmt.Errorf("modules.dep line %d: want \"path.ko: deps\", got %q", n, truncate(line))
		}
		d[Name(p)] = Entry{Path: p, Deps: strings.Fields(rest)}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// byPath returns the entry whose Path is p.
func (d Deps) byPath(p string) (Entry, bool) {
	e, ok := d[Name(p)]
	if ok && e.Path == p {
		return e, true
	}
	return Entry{Path: p}, false
}

// Closure returns the files of the named modules and of everything they
// depend on, each once, dependencies before their users, in a stable order.
// An unknown name is an error wrapping ErrUnknown.
func (d Deps) Closure(names []string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(p string) error
	visit = func(p string) error {
		switch state[p] {
		case 1:
			return fmt.Errorf("dependency loop through %s", p)
		case 2:
			return nil
		}
		state[p] = 1
		e, ok := d.byPath(p)
		if !ok {
			return fmt.Errorf("%s is listed as a dependency but has no modules.dep line: %w", p, ErrUnknown)
		}
		deps := append([]string(nil), e.Deps...)
		sort.Strings(deps)
		for _, dp := range deps {
			if err := visit(dp); err != nil {
				return err
			}
		}
		state[p] = 2
		out = append(out, p)
		return nil
	}
	for _, n := range names {
		e, ok := d[Name(n)]
		if !ok {
			return nil, fmt.Errorf("module %s: %w", n, ErrUnknown)
		}
		if err := visit(e.Path); err != nil {
			return nil, fmt.Errorf("module %s: %w", n, err)
		}
	}
	return out, nil
}

// WriteDep writes the lines of modules.dep for the given files (which must
// be a closure) in the order given.
func (d Deps) WriteDep(w io.Writer, paths []string) error {
	for _, p := range paths {
		e, _ := d.byPath(p)
		line := p + ":"
		if len(e.Deps) > 0 {
			line += " " + strings.Join(e.Deps, " ")
		}
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
