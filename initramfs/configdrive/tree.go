package configdrive

import (
	"fmt"
	"strings"
	"time"
)

// stamp is the fixed timestamp of every file and directory, so that images
// are reproducible byte for byte.
var stamp = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// node is a file or directory of the drive.
type node struct {
	name     string
	dir      bool
	data     []byte
	children []*node // in insertion order of sorted paths
	parent   *node

	// Filled in by the writers.
	short string // ISO identifier or 8.3 name
	lba   uint32 // ISO extent or first FAT cluster
	size  uint32 // bytes of the directory extent (ISO) or cluster count (FAT)
	num   int    // ISO path table directory number
}

// shortNamedTree is how both writers start: the files of c as a tree, every
// entry given a unique short name by mk (see uniqueShort). It returns the
// root and the directories breadth first, the root first.
func shortNamedTree(c Config, mk func(name string, dir bool, attempt int) string) (root *node, dirs []*node, err error) {
	files, err := Files(c)
	if err != nil {
		return nil, nil, err
	}
	root, err = buildTree(files)
	if err != nil {
		return nil, nil, err
	}
	dirs = root.dirsBreadthFirst()
	uniqueShort(dirs, mk)
	return root, dirs, nil
}

// buildTree turns slash-separated paths into a tree under a root directory.
func buildTree(files map[string][]byte) (*node, error) {
	root := &node{dir: true}
	for _, p := range sortedPaths(files) {
		parts := strings.Split(p, "/")
		cur := root
		for i, part := range parts {
			if part == "" || part == "." || part == ".." || len(part) > 64 {
				return nil, fmt.Errorf("config drive: bad path %q", p)
			}
			last := i == len(parts)-1
			child := cur.child(part)
			if child == nil {
				child = &node{name: part, dir: !last, parent: cur}
				if last {
					child.data = files[p]
				}
				cur.children = append(cur.children, child)
			} else if last || !child.dir {
				return nil, fmt.Errorf("config drive: path %q conflicts with another file", p)
			}
			cur = child
		}
	}
	return root, nil
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// dirsBreadthFirst lists directories breadth first (the order ISO path tables need).
func (n *node) dirsBreadthFirst() []*node {
	out := []*node{n}
	for i := 0; i < len(out); i++ {
		for _, c := range out[i].children {
			if c.dir {
				out = append(out, c)
			}
		}
	}
	return out
}

// uniqueShort gives every child of every directory a unique short name made
// by mk(name, attempt); attempt counts up on collisions.
func uniqueShort(dirs []*node, mk func(name string, dir bool, attempt int) string) {
	for _, d := range dirs {
		seen := map[string]bool{}
		for _, c := range d.children {
			for attempt := 0; ; attempt++ {
				s := mk(c.name, c.dir, attempt)
				if !seen[s] {
					seen[s] = true
					c.short = s
					break
				}
			}
		}
	}
}

// mangle maps a long name to upper-case characters in allowed, replacing
// others with '_', and cuts base and extension to the given lengths; a
// non-zero attempt appends ~N to the base.
func mangle(name string, dir bool, attempt, baseLen, extLen int, allowed func(rune) bool) (base, ext string) {
	b, e := name, ""
	if i := strings.LastIndexByte(name, '.'); !dir && i > 0 {
		b, e = name[:i], name[i+1:]
	}
	clean := func(s string, n int) string {
		var sb strings.Builder
		for _, r := range strings.ToUpper(s) {
			if sb.Len() == n {
				break
			}
			if !allowed(r) {
				r = '_'
			}
			sb.WriteRune(r)
		}
		return sb.String()
	}
	base, ext = clean(b, baseLen), clean(e, extLen)
	if base == "" {
		base = "_"
	}
	if attempt > 0 {
		suffix := fmt.Sprintf("~%d", attempt)
		base = base[:min(len(base), baseLen-len(suffix))] + suffix
	}
	return base, ext
}
