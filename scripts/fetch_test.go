// Package scripts_test tests the shell scripts the Makefile runs.
package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFetchUnreachable: with Debian's archive out of reach, fetch-debian.sh
// fails with a message that says so and what to do, and leaves no stamp,
// so that the next run tries again instead of staying broken.
func TestFetchUnreachable(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("no apt-get")
	}
	dest := t.TempDir()
	for i := 0; i < 2; i++ {
		cmd := exec.Command("./fetch-debian.sh", dest, "ipxe")
		cmd.Env = append(os.Environ(), "FETCH_DEBIAN_MIRROR=http://127.0.0.1:1/debian")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("fetch-debian.sh with an unreachable archive succeeded:\n%s", out)
		}
		if !strings.Contains(string(out), "fetch-debian: cannot get the package lists from Debian's package archive at http://127.0.0.1:1/debian.") ||
			!strings.Contains(string(out), "copy a complete third_party/") {
			t.Errorf("run %d: message does not say what failed and what to do:\n%s", i+1, out)
		}
		if strings.Contains(string(out), "dpkg-deb") || strings.Contains(string(out), "Unable to locate package") {
			t.Errorf("run %d: a confusing follow-up error:\n%s", i+1, out)
		}
		for _, stamp := range []string{".apt/lists/.updated", "ipxe/.stamp"} {
			if _, err := os.Stat(filepath.Join(dest, stamp)); err == nil {
				t.Errorf("run %d left the stamp %s", i+1, stamp)
			}
		}
	}
}
