package e2e

import (
	"fmt"
	"os"
	"testing"
)

var harness *Harness

// TestMain checks the prerequisites once and prints the per-stage timings
// at the end.
func TestMain(m *testing.M) {
	h, err := newHarness()
	if err != nil {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "e2e: skipping the end-to-end suite: %v (run `make e2e` as root)\n", err)
		os.Exit(0)
	}
	harness = h
	code := m.Run()
	h.printTimings()
	os.Exit(code)
}
