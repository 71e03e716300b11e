package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/store"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

// loadConfigFile sets serve's flags from the YAML file --config names:
// keys are flag names, a flag given on the command line or in the
// environment wins, and a key that is no flag is refused (with the
// nearest flag name), so a typo never silently does nothing.
func loadConfigFile(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("--config %s: %s", path, yamlProblem(err.Error()))
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("--config %s: line %d: a mapping of flag names to values is expected", path, root.Line)
	}
	var names []string
	for _, f := range c.Command.Flags {
		if n := f.Names()[0]; n != "config" && n != "check" && n != "help" {
			names = append(names, n)
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !slices.Contains(names, k.Value) {
			msg := fmt.Sprintf("--config %s: line %d: unknown key %q", path, k.Line, k.Value)
			if s, ok := closest(k.Value, names); ok {
				return fmt.Errorf("%s (did you mean %s?)", msg, s)
			}
			return fmt.Errorf("%s (keys are the flag names of `byoi serve --help`)", msg)
		}
		if c.IsSet(k.Value) {
			continue // the command line or the environment wins
		}
		var values []string
		switch v.Kind {
		case yaml.ScalarNode:
			values = []string{v.Value}
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return fmt.Errorf("--config %s: line %d: %s: a list of plain values is expected", path, item.Line, k.Value)
				}
				values = append(values, item.Value)
			}
		default:
			return fmt.Errorf("--config %s: line %d: %s: a value or a list of values is expected", path, v.Line, k.Value)
		}
		f := lookupFlag(c.Command.Flags, k.Value)
		for _, val := range values {
			if err := c.Set(k.Value, val); err != nil {
				return fmt.Errorf("--config %s: line %d: %s: invalid value %q: %s", path, v.Line, k.Value, val, flagValueProblem(f, err))
			}
		}
	}
	return nil
}

// checkServe is `byoi serve --check`: what serve would use, checked
// without binding a port or touching the store.
func checkServe(w io.Writer, cfg serveConfig) error {
	var problems []error
	for _, f := range []string{"vmlinuz", "initrd.img", "ipxe.efi", "undionly.kpxe"} {
		if fi, err := os.Stat(filepath.Join(cfg.FilesDir, f)); err != nil || !fi.Mode().IsRegular() {
			problems = append(problems, fmt.Errorf("files dir %s has no %s (run `make build`, or install the package's boot files)", cfg.FilesDir, f))
		}
	}
	if _, _, err := net.SplitHostPort(cfg.HTTPListen); err != nil {
		problems = append(problems, fmt.Errorf("--http-listen %q: %w", cfg.HTTPListen, err))
	}
	if cfg.TFTPListen != "" {
		if _, _, err := net.SplitHostPort(cfg.TFTPListen); err != nil {
			problems = append(problems, fmt.Errorf("--tftp-listen %q: %w", cfg.TFTPListen, err))
		}
	}
	if err := checkStateDir(cfg.StateDir); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("configuration has problems:\n  %w", joinLines(problems))
	}
	fmt.Fprintf(w, "Configuration OK: interfaces %v, address %s, DHCP %s%s, HTTP %s (machines use %s), TFTP %s, state %s, files %s, installer timeout %s.\n",
		cfg.Interfaces, cfg.Address, cfg.DHCPMode, map[bool]string{true: " (known machines only)"}[cfg.DHCPKnownOnly],
		cfg.HTTPListen, cfg.BaseURL, orOff(cfg.TFTPListen), cfg.StateDir, cfg.FilesDir, cfg.InstallerTimeout)
	return nil
}

// checkStateDir checks that the state dir can be used: creatable or
// writable, its store not held by another byoi.
func checkStateDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		parent := filepath.Dir(filepath.Clean(dir))
		if err := writable(parent); err != nil {
			return fmt.Errorf("state dir %s does not exist and cannot be created: %w", dir, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("state dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("state dir %s is not a directory", dir)
	}
	if err := writable(dir); err != nil {
		return fmt.Errorf("state dir %s: %w", dir, err)
	}
	db := filepath.Join(dir, storeFile)
	if _, err := os.Stat(db); err == nil {
		st, err := store.Open(db, store.Options{Timeout: 200 * time.Millisecond})
		if err != nil {
			return err
		}
		st.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, auth.AdminTokenFile)); err == nil {
		if _, err := auth.ReadTokenFile(filepath.Join(dir, auth.AdminTokenFile)); err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
	}
	return nil
}

func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".byoi-check-*")
	if err != nil {
		return fmt.Errorf("not writable: %w", errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

// joinLines joins errors one per line.
func joinLines(errs []error) error {
	msg := ""
	for i, e := range errs {
		if i > 0 {
			msg += "\n  "
		}
		msg += e.Error()
	}
	return errors.New(msg)
}
