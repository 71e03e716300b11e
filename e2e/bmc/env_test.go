package bmc

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/netns"
)

// need stops the test unless it may run VMs here; with BYOI_INTEGRATION=1 a
// missing precondition fails it.
func need(t *testing.T, tools ...string) {
	t.Helper()
	netns.Require(t)
	for _, tool := range tools {
		netns.RequireCommand(t, tool)
	}
}

// ovmf returns the OVMF files `make fetch` unpacked into third_party.
func ovmf(t *testing.T) (code, vars string) {
	t.Helper()
	root := os.Getenv("BYOI_ROOT")
	if root == "" {
		wd, _ := os.Getwd()
		root = filepath.Join(wd, "..", "..")
	}
	code = filepath.Join(root, "third_party", "ovmf", "OVMF_CODE_4M.fd")
	vars = filepath.Join(root, "third_party", "ovmf", "OVMF_VARS_4M.fd")
	for _, p := range []string{code, vars} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv(netns.IntegrationEnv) == "1" {
				t.Fatalf("%s=1 but %s is missing: run `make e2e` (scripts/fetch-debian.sh third_party ovmf)", netns.IntegrationEnv, p)
			}
			t.Skipf("skipping: %s is missing (scripts/fetch-debian.sh third_party ovmf)", p)
		}
	}
	return code, vars
}

// lockVMs holds the shared VM lock for the rest of the test.
func lockVMs(t *testing.T) {
	t.Helper()
	start := time.Now()
	release, err := LockVMs()
	if err != nil {
		t.Fatal(err)
	}
	locked := time.Now()
	t.Logf("waited %v for %s", locked.Sub(start).Round(time.Second), VMLock)
	t.Cleanup(func() {
		t.Logf("held %s for %v", VMLock, time.Since(locked).Round(time.Second))
		release()
	})
}

// logFiles logs the named files of dir when the test failed.
func logFiles(t *testing.T, dir string, names ...string) {
	if !t.Failed() {
		return
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			t.Logf("%s:\n%s", n, b)
		}
	}
}
