package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestRunConcurrently: runs in one process may parse flags at the same time
// (urfave/cli's HelpFlag and VersionFlag are package-level and written by
// every parse); under -race this fails without run's parsing lock.
func TestRunConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := []string{"byoi", "--version"}
			if i%2 == 1 {
				args = []string{"byoi", "machines", "list", "--help"}
			}
			var out strings.Builder
			errs[i] = run(context.Background(), args, &out, io.Discard)
			if errs[i] == nil && out.Len() == 0 {
				errs[i] = fmt.Errorf("%v printed nothing", args)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
