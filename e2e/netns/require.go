package netns

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// IntegrationEnv is the variable that turns missing preconditions into
// failures: `make test` sets it to 1.
const IntegrationEnv = "BYOI_INTEGRATION"

// Require stops the test unless namespaces can be made here (Linux, root,
// the ip command). With BYOI_INTEGRATION=1 a missing precondition fails the
// test; otherwise the test is skipped with the reason.
func Require(t testing.TB) {
	t.Helper()
	if reason := missing(); reason != "" {
		if os.Getenv(IntegrationEnv) == "1" {
			t.Fatalf("%s=1 but %s", IntegrationEnv, reason)
		}
		t.Skipf("skipping: %s (set %s=1 to make this a failure)", reason, IntegrationEnv)
	}
}

// RequireCommand is Require for an extra tool the test runs (dnsmasq,
// udhcpc, …): the tool must be on PATH or at the given absolute path.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(IntegrationEnv) == "1" {
			t.Fatalf("%s=1 but %s is not installed: %v", IntegrationEnv, name, err)
		}
		t.Skipf("skipping: %s is not installed (set %s=1 to make this a failure)", name, IntegrationEnv)
	}
	return path
}

func missing() string {
	if runtime.GOOS != "linux" {
		return "network namespaces need linux, this is " + runtime.GOOS
	}
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "the ip command (iproute2) is missing"
	}
	return ""
}
