package kmod

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// ErrUnknown: a module is in neither modules.dep nor modules.builtin.
var ErrUnknown = errors.New("unknown module")

// Alias is one line of modules.alias: a modalias glob and its module.
type Alias struct {
	Pattern string
	Module  string
}

// ParseAlias parses modules.alias ("alias PATTERN MODULE" per line).
func ParseAlias(r io.Reader) ([]Alias, error) {
	var out []Alias
	err := eachLine(r, "modules.alias", func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return fmt.Errorf("modules.alias line %d: want \"alias PATTERN MODULE\", got %q", n, truncate(line))
		}
		if _, err := path.Match(f[1], ""); err != nil {
			return fmt.Errorf("modules.alias line %d: bad pattern %q: %w", n, f[1], err)
		}
		out = append(out, Alias{Pattern: f[1], Module: Name(f[2])})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Match returns the modules whose alias pattern matches a device's modalias
// (as read from /sys/…/modalias), sorted, each once.
func Match(aliases []Alias, modalias string) []string {
	modalias = strings.TrimSpace(modalias)
	if modalias == "" {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, a := range aliases {
		if seen[a.Module] {
			continue
		}
		// Patterns were checked in ParseAlias; modaliases hold no '/'.
		if ok, _ := path.Match(a.Pattern, modalias); ok {
			seen[a.Module] = true
			out = append(out, a.Module)
		}
	}
	sort.Strings(out)
	return out
}

// WriteAlias writes the aliases of the given modules in modules.alias form.
func WriteAlias(w io.Writer, aliases []Alias, modules map[string]bool) error {
	for _, a := range aliases {
		if !modules[a.Module] {
			continue
		}
		if _, err := fmt.Fprintf(w, "alias %s %s\n", a.Pattern, a.Module); err != nil {
			return err
		}
	}
	return nil
}

// ParseBuiltin parses modules.builtin (one module path per line) into a set
// of module names.
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	err := eachLine(r, "modules.builtin", func(_ int, line string) error {
		out[Name(line)] = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
