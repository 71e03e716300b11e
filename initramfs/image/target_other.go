//go:build !linux

package image

import "os"

// zeroFast has no fast path outside Linux: write zeros.
func (t *FileTarget) zeroFast(off, n int64) error { return t.writeZeros(off, n) }

// openDirect has no direct I/O outside Linux.
func openDirect(string, *os.File) (*os.File, int) { return nil, 0 }
