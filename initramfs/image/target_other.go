//go:build !linux

package image

// zeroFast has no fast path outside Linux: write zeros.
func (t *FileTarget) zeroFast(off, n int64) error { return t.writeZeros(off, n) }
