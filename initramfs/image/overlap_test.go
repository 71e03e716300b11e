package image

import (
	"bytes"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// slowDirect is a file target that says it writes with O_DIRECT and whose
// writes take a while, as a device's do. It records how many writes ran at
// once, and whether a buffer changed while it was being written (released
// to the decoder too early).
type slowDirect struct {
	*FileTarget
	delay   time.Duration
	failAt  int64 // writes at or past this offset fail with EIO; -1: none
	cur     atomic.Int32
	peak    atomic.Int32
	changed atomic.Bool
}

func (s *slowDirect) Direct() bool { return true }

func (s *slowDirect) WriteAt(p []byte, off int64) (int, error) {
	n := s.cur.Add(1)
	defer s.cur.Add(-1)
	for {
		old := s.peak.Load()
		if n <= old || s.peak.CompareAndSwap(old, n) {
			break
		}
	}
	before := bytes.Clone(p)
	time.Sleep(s.delay)
	if !bytes.Equal(before, p) {
		s.changed.Store(true)
	}
	if s.failAt >= 0 && off >= s.failAt {
		return 0, syscall.EIO
	}
	return s.FileTarget.WriteAt(before, off)
}

// TestOverlappedWrites: on a target that writes with O_DIRECT, writeDepth
// data writes are in flight at once, no more, and no buffer is reused
// before its write is done; the disk ends up equal to the image. xz, whose
// decoder reads its older output back from the disk, writes one at a time.
func TestOverlappedWrites(t *testing.T) {
	variants, oracleRaw := loadFixtures(t)
	for _, tc := range []struct {
		name  string
		depth int32
	}{
		{"raw", writeDepth},
		{"raw-zstd", writeDepth},
		{"qcow2-v3", writeDepth},
		{"qcow2-zlib", writeDepth},
		{"raw-xz", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk")
			ft := garbageTarget(t, path, testImageSize)
			defer ft.Close()
			tg := &slowDirect{FileTarget: ft, delay: 2 * time.Millisecond, failAt: -1}
			srv := fileServer(t, variants[tc.name], nil)
			res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(tc.name)}), tg)
			if err != nil {
				t.Fatalf("Install() = %v", err)
			}
			if got := tg.peak.Load(); got != tc.depth {
				t.Errorf("at most %d writes ran at once, want %d", got, tc.depth)
			}
			if tg.changed.Load() {
				t.Errorf("a buffer changed while it was being written")
			}
			if res.Written == 0 {
				t.Errorf("Result.Written = 0")
			}
			sameContent(t, path, oracleRaw, testImageSize)
		})
	}
}

// TestOverlappedWriteFails: a write that fails while another is in flight
// fails the install with OVH's write error, and Install returns only once
// no write is running (the caller closes the disk next).
func TestOverlappedWriteFails(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, name := range []string{"raw", "qcow2-v3"} {
		t.Run(name, func(t *testing.T) {
			ft := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
			defer ft.Close()
			tg := &slowDirect{FileTarget: ft, delay: 20 * time.Millisecond, failAt: 4 * mib}
			srv := fileServer(t, variants[name], nil)
			_, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(name)}), tg)
			if n := tg.cur.Load(); n != 0 {
				t.Errorf("%d writes still running when Install returned", n)
			}
			checkWriteFailure(t, err, declared(name), syscall.EIO)
			if tg.peak.Load() != writeDepth {
				t.Errorf("at most %d writes ran at once, want %d", tg.peak.Load(), writeDepth)
			}
		})
	}
}
