package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain keeps the tests away from the user's own CLI config.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "byoi-cli-test")
	if err != nil {
		panic(err)
	}
	os.Setenv("BYOI_CLIENT_CONFIG", filepath.Join(dir, "config.yaml"))
	os.Unsetenv("BYOI_TOKEN_FILE")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
