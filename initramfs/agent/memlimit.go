package agent

import (
	"os"
	"runtime/debug"
)

// MemoryLimit is the Go memory limit the installer runs with (unless
// GOMEMLIMIT says otherwise). The image pipeline's live memory is bounded
// (buffers, the block cache, one decompressor window); without a limit the
// garbage collector lets the heap grow to twice that before collecting,
// which on a small machine is memory the kernel and the page cache need.
const MemoryLimit = 48 << 20

// SetMemoryLimit applies MemoryLimit, unless GOMEMLIMIT is set, and
// returns the limit in effect.
func SetMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
	return debug.SetMemoryLimit(-1)
}
