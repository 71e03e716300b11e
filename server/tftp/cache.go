package tftp

import (
	"io"
	"os"
	"sync"
)

// Cache limits: boot files (ipxe.efi, undionly.kpxe, snponly.efi) are 0.1–1
// MiB; anything larger than maxCachedFile is read from disk per block.
const (
	maxCachedFile  = 16 << 20
	maxCachedTotal = 64 << 20
)

// fileCache keeps the content of small served files in memory, so that a
// storm of clients fetching the same boot file costs one read. An entry is
// used only while the opened file is the same file (device and inode), of
// the same size and modification time as when it was read; otherwise it is
// read again. Entries are never written to: transfers share them.
type fileCache struct {
	maxFile, maxTotal int64

	mu    sync.Mutex
	total int64
	files map[string]cachedFile
}

type cachedFile struct {
	info os.FileInfo
	data []byte
}

func newFileCache(maxFile, maxTotal int64) *fileCache {
	return &fileCache{maxFile: maxFile, maxTotal: maxTotal, files: map[string]cachedFile{}}
}

// get returns the content of f, opened as name and described by fi, from
// the cache or by reading it into the cache. ok is false when the file is
// too large, the cache is full, or f changed while it was read: the caller
// then reads f itself.
func (c *fileCache) get(name string, f *os.File, fi os.FileInfo) (data []byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, found := c.files[name]; found {
		if sameVersion(e.info, fi) {
			return e.data, true
		}
		delete(c.files, name)
		c.total -= int64(len(e.data))
	}
	size := fi.Size()
	if size > c.maxFile || c.total+size > c.maxTotal {
		return nil, false
	}
	// Read under the lock: a storm's first requests all wait for one read
	// instead of each reading the file.
	data = make([]byte, size)
	if n, err := f.ReadAt(data, 0); n != len(data) || (err != nil && err != io.EOF) {
		return nil, false
	}
	after, err := f.Stat()
	if err != nil || !sameVersion(fi, after) {
		return nil, false
	}
	c.files[name] = cachedFile{info: fi, data: data}
	c.total += size
	return data, true
}

// sameVersion reports whether a and b describe the same file with the same
// size and modification time.
func sameVersion(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
