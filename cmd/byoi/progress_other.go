//go:build !linux

package main

import "io"

// terminalWidth is unknown off Linux: lines are not cut.
func terminalWidth(io.Writer) int { return 0 }
