package kmod

import (
	"bufio"
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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return nil, fmt.Errorf("modules.alias line %d: want \"alias PATTERN MODULE\", got %q", n, truncate(line))
		}
		if _, err := path.Match(f[1], ""); err != nil {
			return nil, fmt.Errorf("modules.alias line %d: bad pattern %q: %w", n, f[1], err)
		}
		out = append(out, Alias{Pattern: f[1], Module: Name(f[2])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.alias: %w", err)
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
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out[Name(line)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return out, nil
}
