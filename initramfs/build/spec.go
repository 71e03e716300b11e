package build

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// layerFS holds the layer descriptions (layers/NAME.layer; the package
// names in them are read by scripts/fetch-debian.sh too) and the files of
// our own each layer adds (the tree under layers/NAME/).
//
//go:embed layers
var layerFS embed.FS

// LayerSpec says what one initramfs layer holds. See layers/tools.layer for
// the file format.
type LayerSpec struct {
	Name string
	// Below names the layers loaded under this one: their files are not
	// repeated here.
	Below []string
	// Packages are the Debian packages the files come from (fetched, with
	// their dependencies, by scripts/fetch-debian.sh).
	Packages []string
	// Files are absolute paths or glob patterns in the unpacked packages.
	Files []string
	// Modules are kernel modules to add with their dependencies.
	Modules []string
	// Links are symbolic links to add: path → target.
	Links map[string]string
	// Extra are files of our own: path → content (layers/NAME/ of the
	// described layers), installed with mode 0644.
	Extra map[string][]byte
}

// LayerNames lists the layers byoi describes (tools, rescue), sorted.
func LayerNames() []string {
	entries, _ := layerFS.ReadDir("layers")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".layer"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Layer returns the description of a named layer.
func Layer(name string) (LayerSpec, error) {
	f, err := layerFS.Open("layers/" + name + ".layer")
	if err != nil {
		return LayerSpec{}, fmt.Errorf("initramfs layer %q: unknown (known: %s)", name, strings.Join(LayerNames(), ", "))
	}
	defer f.Close()
	s, err := ParseLayer(name, f)
	if err != nil {
		return s, err
	}
	s.Extra = map[string][]byte{}
	sub, err := fs.Sub(layerFS, "layers/"+name)
	if err != nil {
		return s, err
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == "." {
				return fs.SkipDir // no files of our own
			}
			return err
		}
		if d.Type().IsRegular() {
			b, err := fs.ReadFile(sub, p)
			if err != nil {
				return err
			}
			s.Extra["/"+p] = b
		}
		return nil
	})
	return s, err
}

// ParseLayer reads a layer description: one directive per line, '#'
// starts a comment.
//
//	below LAYER...       layers loaded under this one
//	package NAME...      Debian packages the files come from
//	file PATH...         absolute paths or glob patterns
//	module NAME...       kernel modules
//	link PATH TARGET     a symbolic link of our own
func ParseLayer(name string, r io.Reader) (LayerSpec, error) {
	s := LayerSpec{Name: name, Links: map[string]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(why string) error {
			return fmt.Errorf("initramfs layer %s line %d: %s: %s", name, n, f[0], why)
		}
		args := f[1:]
		if len(args) == 0 {
			return s, bad("no arguments")
		}
		switch f[0] {
		case "below":
			s.Below = append(s.Below, args...)
		case "package":
			s.Packages = append(s.Packages, args...)
		case "file":
			for _, p := range args {
				if !path.IsAbs(p) || path.Clean(p) != p {
					return s, bad(fmt.Sprintf("%q is not a clean absolute path", p))
				}
				if _, err := path.Match(p, ""); err != nil {
					return s, bad(fmt.Sprintf("pattern %q: %v", p, err))
				}
			}
			s.Files = append(s.Files, args...)
		case "module":
			s.Modules = append(s.Modules, args...)
		case "link":
			if len(args) != 2 {
				return s, bad("want PATH TARGET")
			}
			if !path.IsAbs(args[0]) || path.Clean(args[0]) != args[0] || args[0] == "/" {
				return s, bad(fmt.Sprintf("%q is not a clean absolute path", args[0]))
			}
			s.Links[args[0]] = args[1]
		default:
			return s, fmt.Errorf("initramfs layer %s line %d: unknown directive %q", name, n, f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return s, fmt.Errorf("initramfs layer %s: %w", name, err)
	}
	return s, nil
}
