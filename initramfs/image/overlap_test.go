package image

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// slowDirect is a file target that says it writes with O_DIRECT and whose
// writes take a while, as a device's do. It records how many writes ran at
// once, and whether a buffer changed while it was being written (released
// to the decoder too early).
//
// With await set, a write that starts before any two writes have run at
// once waits for a second one to start (until await after the first write
// began) before taking delay: whether the writer issues a second write
// while the first is in flight then does not depend on how fast the
// decoder runs on a loaded machine.
type slowDirect struct {
	*FileTarget
	delay   time.Duration
	await   time.Duration
	failAt  int64         // writes at or past this offset fail with EIO; -1: none
	zeroing time.Duration // how long ZeroRange takes
	cur     atomic.Int32
	peak    atomic.Int32
	changed atomic.Bool
	// deadline ends the waits for a second write (Unix ns; 0: not yet set)
	deadline atomic.Int64
}

func (s *slowDirect) Direct() bool { return true }

func (s *slowDirect) ZeroRange(off, n int64) error {
	time.Sleep(s.zeroing)
	return s.FileTarget.ZeroRange(off, n)
}

func (s *slowDirect) WriteAt(p []byte, off int64) (int, error) {
	n := s.cur.Add(1)
	defer s.cur.Add(-1)
	for {
		old := s.peak.Load()
		if n <= old || s.peak.CompareAndSwap(old, n) {
			break
		}
	}
	s.deadline.CompareAndSwap(0, time.Now().Add(s.await).UnixNano())
	for s.peak.Load() < 2 && time.Now().UnixNano() < s.deadline.Load() {
		time.Sleep(time.Millisecond)
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
			if tc.depth > 1 {
				tg.await = 10 * time.Second
			}
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
			tg := &slowDirect{FileTarget: ft, delay: 20 * time.Millisecond, failAt: 4 * mib, await: 10 * time.Second}
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

// TestOverlappedWriteFailsFirst: a write that fails in the background is the
// install's error even when the stream then fails too, as when writing one
// at a time. A 64 MiB gzip image onto an 8 MiB disk: its data is written
// (and fails) in the first 2 MiB, then the stream runs past the end of the
// disk inside a zero run, without another write to report the failure at.
func TestOverlappedWriteFailsFirst(t *testing.T) {
	variants, _ := loadFixtures(t)
	ft := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), 8*mib)
	tg := &slowDirect{FileTarget: ft, delay: 20 * time.Millisecond, failAt: 0}
	srv := fileServer(t, variants["raw-gzip"], nil)
	_, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw"}), tg)
	checkWriteFailure(t, err, "raw", syscall.EIO)
}

// TestOverlappedProgressStopsAtFailure: progress never counts a write that
// failed, even when the writes and zeroing after it went through. The image
// holds data in its second MiB and zeros after it; that write fails while
// the zero tail is being zeroed.
func TestOverlappedProgressStopsAtFailure(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "img.raw")
	makeRaw(t, img, 16*mib, 3)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(2 * mib); err != nil { // keep the MBR and the data at 1 MiB
		t.Fatal(err)
	}
	if err := f.Truncate(16 * mib); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ft := garbageTarget(t, filepath.Join(dir, "disk"), 16*mib)
	tg := &slowDirect{FileTarget: ft, delay: 30 * time.Millisecond, failAt: mib, zeroing: 60 * time.Millisecond}
	var most atomic.Int64
	o := fast(Options{URL: fileServer(t, img, nil).URL, Type: "raw", ProgressGap: time.Nanosecond,
		Progress: func(step boot.StepID, done, total int64) {
			if step == boot.StepWrite && done > most.Load() {
				most.Store(done)
			}
		}})
	_, err = Install(testCtx(t), o, tg)
	checkWriteFailure(t, err, "raw", syscall.EIO)
	if got := most.Load(); got > mib {
		t.Errorf("progress reported %d bytes written; the write at %d failed", got, mib)
	}
}

// TestCachedWriteWaitsForDirect: a write through a block device's page
// cache (zeros at an unaligned edge, or a device that refused O_DIRECT)
// waits for the direct writes in flight; otherwise it could read a page
// half of which a direct write is replacing, and write its old half back.
func TestCachedWriteWaitsForDirect(t *testing.T) {
	ft := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), mib)
	for name, write := range map[string]func() error{
		"zeros":     func() error { return ft.writeZeros(100, 300) },
		"unaligned": func() error { _, err := ft.WriteAt([]byte("byoi"), 4097); return err },
	} {
		ft.mu.RLock() // a direct write in flight
		done := make(chan error, 1)
		go func() { done <- write() }()
		var err error
		select {
		case err = <-done:
			t.Errorf("%s: the page-cache write ran beside a direct write", name)
			ft.mu.RUnlock()
		case <-time.After(50 * time.Millisecond):
			ft.mu.RUnlock()
			err = <-done
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
