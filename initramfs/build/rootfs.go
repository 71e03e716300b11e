package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Errors of rootFS.resolve besides those of the file system.
var (
	// errLoop: too many symbolic links on the way (the kernel's limit is 40).
	errLoop = errors.New("too many levels of symbolic links")
	// errNotDir: a component before the last is not a folder.
	errNotDir = errors.New("not a folder")
)

// rootFS reads a tree of unpacked Debian packages as if its folder were "/":
// absolute symbolic links resolve inside it, ".." stops at its top, and
// nothing outside it is ever read.
type rootFS struct{ dir string }

// hop is a symbolic link met while resolving a path: its tree path and
// target as stored.
type hop struct{ name, target string }

// host is the real path of tree path p.
func (r rootFS) host(p string) string { return filepath.Join(r.dir, filepath.FromSlash(p)) }

// resolve follows the absolute tree path p, component by component, to
// something that is not a symbolic link, and returns that path and the
// links followed on the way, in order.
func (r rootFS) resolve(p string) (string, []hop, error) {
	var hops []hop
	rest := strings.Split(p, "/")
	cur := "/"
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(r.host(next))
		if err != nil {
			return "", nil, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if len(rest) > 0 && !fi.IsDir() {
				return "", nil, &fs.PathError{Op: "resolve", Path: p, Err: fmt.Errorf("%s: %w", next, errNotDir)}
			}
			cur = next
			continue
		}
		if len(hops) == 40 {
			return "", nil, &fs.PathError{Op: "resolve", Path: p, Err: errLoop}
		}
		target, err := os.Readlink(r.host(next))
		if err != nil {
			return "", nil, err
		}
		hops = append(hops, hop{name: next, target: target})
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, hops, nil
}

// glob returns the tree paths matching an absolute pattern, sorted; a
// pattern without meta characters is returned as is, found or not.
func (r rootFS) glob(pattern string) ([]string, error) {
	if !strings.ContainsAny(pattern, `*?[\`) {
		return []string{pattern}, nil
	}
	matches, err := filepath.Glob(r.host(pattern))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(matches))
	for _, m := range matches {
		rel, err := filepath.Rel(r.dir, m)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		out = append(out, "/"+filepath.ToSlash(rel))
	}
	sort.Strings(out)
	return out, nil
}
