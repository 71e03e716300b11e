package tftp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCacheInvalidation: a file changed, replaced, grown or removed between
// downloads is served as it is now, never from a stale copy.
func TestCacheInvalidation(t *testing.T) {
	ts := startServer(t, Config{})
	path := filepath.Join(ts.root, "ipxe.efi")
	big := filepath.Join(ts.root, "big.img")
	writeRandom(t, big, 300000) // above the limit set below: streamed from disk
	ts.s.cache.mu.Lock()
	ts.s.cache.maxFile = 200000
	ts.s.cache.mu.Unlock()
	tests := []struct {
		name   string
		change func(t *testing.T) []byte // returns the new content, nil if gone
	}{
		{"first download", func(t *testing.T) []byte { return writeRandom(t, path, 5000) }},
		{"unchanged", func(t *testing.T) []byte { b, _ := os.ReadFile(path); return b }},
		{"rewritten in place, same size", func(t *testing.T) []byte {
			b := bytes.Repeat([]byte{7}, 5000)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			// A later mtime even on a coarse clock.
			later := time.Now().Add(2 * time.Second)
			os.Chtimes(path, later, later)
			return b
		}},
		{"replaced by rename, same size and mtime", func(t *testing.T) []byte {
			fi, _ := os.Stat(path)
			tmp := filepath.Join(ts.root, "new")
			b := bytes.Repeat([]byte{9}, 5000)
			os.WriteFile(tmp, b, 0o644)
			os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return b
		}},
		{"grown", func(t *testing.T) []byte { return writeRandom(t, path, 9000) }},
		{"removed", func(t *testing.T) []byte { os.Remove(path); return nil }},
		{"back again", func(t *testing.T) []byte { return writeRandom(t, path, 100) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.change(t)
			got, _, err := get(t, ts.addr, "ipxe.efi", 1468)
			if want == nil {
				if err == nil {
					t.Fatalf("get(ipxe.efi) after removal = %d bytes, want an error", len(got))
				}
				return
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("get(ipxe.efi) = %d bytes, %v; want the current %d-byte file", len(got), err, len(want))
			}
		})
	}
	t.Run("file above the cache limit", func(t *testing.T) {
		want, _ := os.ReadFile(big)
		res, err := fetch(t, ts.addr, "big.img", faults{}, "blksize", "1468", "windowsize", "64")
		if err != nil || !bytes.Equal(res.data, want) {
			t.Fatalf("fetch(big.img) = %d bytes, %v; want the %d-byte file", len(res.data), err, len(want))
		}
		ts.s.cache.mu.Lock()
		defer ts.s.cache.mu.Unlock()
		if _, cached := ts.s.cache.files["big.img"]; cached {
			t.Errorf("big.img (300000 bytes) is cached, limit %d", ts.s.cache.maxFile)
		}
	})
}
