package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LayerOptions say how to pack one initramfs layer: an extra cpio archive
// that iPXE loads after initrd.img (the kernel unpacks them all, in order,
// into one root). Root and Output are required, and ModulesDir when the
// layer has kernel modules; every other field has a default.
//
//	rep, err := build.BuildLayer(build.LayerOptions{
//		Name:       "tools",
//		Root:       "third_party/debian/root",
//		ModulesDir: "third_party/linux/lib/modules/6.1.0-50-amd64",
//		Output:     "bin/boot/tools.img",
//	})
type LayerOptions struct {
	// Name is a layer described in layers/ (see LayerNames), unless Spec
	// is given.
	Name string
	Spec *LayerSpec
	// Root is the tree of unpacked Debian packages the files come from
	// (scripts/fetch-debian.sh: third_party/debian/root).
	Root string
	// ModulesDir is the kernel's module folder, as in Options.
	ModulesDir string
	// BaseModules are the modules initrd.img holds (default
	// DefaultModules): the layer does not repeat their files, and its
	// modules.dep, which replaces initrd.img's, lists them too.
	BaseModules []string
	// Output is the file written (atomically).
	Output string
	// Compression is "gzip" (default), "zstd" or "none".
	Compression string
}

func (o LayerOptions) withDefaults() (LayerOptions, LayerSpec, error) {
	var spec LayerSpec
	switch {
	case o.Spec != nil:
		spec = *o.Spec
	case o.Name != "":
		var err error
		if spec, err = Layer(o.Name); err != nil {
			return o, spec, err
		}
	default:
		return o, spec, errors.New("build initramfs layer: no layer named")
	}
	if o.Root == "" {
		return o, spec, fmt.Errorf("build initramfs layer %s: no package tree given (run scripts/fetch-debian.sh third_party debian)", spec.Name)
	}
	if fi, err := os.Stat(o.Root); err != nil || !fi.IsDir() {
		return o, spec, fmt.Errorf("build initramfs layer %s: package tree %s is not a folder (run scripts/fetch-debian.sh third_party debian)", spec.Name, o.Root)
	}
	if o.Output == "" {
		return o, spec, fmt.Errorf("build initramfs layer %s: no output file given", spec.Name)
	}
	if len(o.BaseModules) == 0 {
		o.BaseModules = DefaultModules
	}
	o.Compression = strings.ToLower(o.Compression)
	switch o.Compression {
	case "":
		o.Compression = Gzip
	case Gzip, Zstd, None:
	default:
		return o, spec, fmt.Errorf("build initramfs layer %s: unknown compression %q: use gzip, zstd or none", spec.Name, o.Compression)
	}
	if len(spec.Modules) > 0 {
		if o.ModulesDir == "" {
			return o, spec, fmt.Errorf("build initramfs layer %s: it has kernel modules but no modules dir was given", spec.Name)
		}
		o.ModulesDir = filepath.Clean(o.ModulesDir)
		if _, err := os.Stat(filepath.Join(o.ModulesDir, "modules.dep")); err != nil {
			return o, spec, fmt.Errorf("build initramfs layer %s: modules dir %s: %w (run depmod?)", spec.Name, o.ModulesDir, err)
		}
	}
	return o, spec, nil
}

// BuildLayer writes the layer described by o and reports what went in.
func BuildLayer(o LayerOptions) (Report, error) { return buildLayer(o, Layer) }

// buildLayer is BuildLayer with the lookup of the layers below.
func buildLayer(o LayerOptions, lookup func(string) (LayerSpec, error)) (Report, error) {
	o, spec, err := o.withDefaults()
	if err != nil {
		return Report{}, err
	}
	rep := Report{Output: o.Output}
	c, err := collect(o.Root, spec)
	if err != nil {
		return rep, err
	}
	// What the layers below hold is not repeated.
	below := map[string]bool{}
	have := append([]string(nil), o.BaseModules...)
	bs, err := belowSpecs(spec, lookup)
	if err != nil {
		return rep, err
	}
	for _, b := range bs {
		bc, err := collect(o.Root, b)
		if err != nil {
			return rep, fmt.Errorf("build initramfs layer %s: layer below: %w", spec.Name, err)
		}
		for p := range bc.items {
			below[p] = true
		}
		have = append(have, b.Modules...)
	}
	t := tree{}
	for p, it := range c.items {
		if below[p] {
			continue
		}
		name := strings.TrimPrefix(p, "/")
		if it.src == "" {
			t.link(name, it.target)
		} else {
			t.file(name, it.src, it.perm)
		}
	}
	for p, b := range spec.Extra {
		t.data(strings.TrimPrefix(p, "/"), b, 0o644)
	}
	for _, l := range c.libs {
		if !below[l] {
			rep.Libraries = append(rep.Libraries, l)
		}
	}
	if len(spec.Modules) > 0 {
		m := moduleSet{dir: o.ModulesDir, want: spec.Modules, have: have}
		if err := m.add(t, &rep); err != nil {
			return rep, err
		}
	}
	entries := t.sorted()
	rep.Files = len(entries)
	if rep.RawBytes, rep.Bytes, err = writeArchive(o.Output, o.Compression, entries); err != nil {
		return rep, err
	}
	return rep, nil
}

// collect resolves a layer's files and links in the package tree at root.
func collect(root string, spec LayerSpec) (*closure, error) {
	c := newClosure(root)
	for _, pattern := range spec.Files {
		paths, err := c.fs.glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("build initramfs layer %s: %s: %w", spec.Name, pattern, err)
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("build initramfs layer %s: %s matches nothing in %s", spec.Name, pattern, root)
		}
		for _, p := range paths {
			if err := c.add(p, "build initramfs layer "+spec.Name); err != nil {
				return nil, err
			}
		}
	}
	links := make([]string, 0, len(spec.Links))
	for p := range spec.Links {
		links = append(links, p)
	}
	sort.Strings(links)
	for _, p := range links {
		c.items[p] = item{target: spec.Links[p]}
	}
	return c, nil
}

// belowSpecs returns the described layers under spec, nearest last, each
// once.
func belowSpecs(spec LayerSpec, lookup func(string) (LayerSpec, error)) ([]LayerSpec, error) {
	var out []LayerSpec
	seen := map[string]bool{spec.Name: true}
	var walk func(names []string) error
	walk = func(names []string) error {
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			b, err := lookup(n)
			if err != nil {
				return fmt.Errorf("build initramfs layer %s: below: %w", spec.Name, err)
			}
			if err := walk(b.Below); err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	}
	return out, walk(spec.Below)
}
