package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// userConfig is the CLI's per-user configuration,
// ~/.config/byoi/config.yaml (or $XDG_CONFIG_HOME/byoi/config.yaml, or the
// file BYOI_CLIENT_CONFIG names): where the server is and where its token
// is. Flags and environment variables win over it. `byoi login` writes it.
type userConfig struct {
	Server    string `yaml:"server,omitempty"`
	TokenFile string `yaml:"token-file,omitempty"`
}

// userConfigPath is where the user's config lives.
func userConfigPath() (string, error) {
	if p := os.Getenv("BYOI_CLIENT_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("locating the user config: %w (set BYOI_CLIENT_CONFIG)", err)
	}
	return filepath.Join(dir, "byoi", "config.yaml"), nil
}

// loadUserConfig reads the user's config; a missing file is an empty one.
// Unknown keys are refused, so a typo never silently does nothing.
func loadUserConfig() (userConfig, string, error) {
	path, err := userConfigPath()
	if err != nil {
		return userConfig{}, "", err
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return userConfig{}, path, nil
	}
	if err != nil {
		return userConfig{}, path, fmt.Errorf("reading %s: %w", path, err)
	}
	var c userConfig
	if err := decodeYAMLStrict(raw, &c); err != nil {
		return userConfig{}, path, fmt.Errorf("%s: %w", path, err)
	}
	if c.TokenFile != "" && !filepath.IsAbs(c.TokenFile) {
		c.TokenFile = filepath.Join(filepath.Dir(path), c.TokenFile)
	}
	return c, path, nil
}

// decodeYAMLStrict decodes one YAML document into v, refusing keys v does
// not have, and phrases yaml's errors in one line.
func decodeYAMLStrict(raw []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			return errors.New(yamlProblem(te.Errors[0]))
		}
		return errors.New(yamlProblem(err.Error()))
	}
	return nil
}

// saveUserConfig writes c to path (directory 0700, file 0600).
func saveUserConfig(path string, c userConfig) error {
	raw, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	raw = append([]byte("# byoi CLI settings (written by `byoi login`)\n"), raw...)
	return writePrivateFile(path, raw)
}

// writePrivateFile writes data to path through a temporary file, mode
// 0600, creating its directory with mode 0700.
func writePrivateFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// yamlProblem rewrites a yaml.v3 error message for an operator:
// "yaml: line 3: field foo not found in type main.userConfig" becomes
// `line 3: unknown key "foo"`.
func yamlProblem(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if i := strings.Index(msg, "field "); i >= 0 && strings.Contains(msg, " not found in type ") {
		key := strings.TrimPrefix(msg[i:], "field ")
		key = key[:strings.Index(key, " not found in type ")]
		return msg[:i] + fmt.Sprintf("unknown key %q", key)
	}
	if i := strings.Index(msg, "cannot unmarshal "); i >= 0 {
		return msg[:i] + "wrong type: " + msg[i+len("cannot unmarshal "):]
	}
	return msg
}
