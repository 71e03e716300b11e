//go:build !linux

package agent

import (
	"fmt"
	"os"
)

// Main is the installer's /init; the installer runs on Linux only.
func Main() {
	fmt.Fprintln(os.Stderr, "byoi-agent: the installer runs on Linux only")
	os.Exit(1)
}
