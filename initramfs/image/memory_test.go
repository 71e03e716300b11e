package image

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// peakDuring runs fn and returns the peak heap in use (sampled every 2 ms)
// and the process's peak RSS (VmHWM, reset before fn where the kernel allows).
func peakDuring(t *testing.T, fn func()) (heap, rss uint64) {
	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	return peak.Load(), vmHWM(t)
}

func vmHWM(t *testing.T) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestInstallMemoryFlat installs a 256 MiB and a 1 GiB image (raw and qcow2)
// and checks the peak heap does not grow with the image.
func TestInstallMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 1 GiB images")
	}
	needTool(t, "qemu-img")
	dir := t.TempDir()
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	peaks := map[string]uint64{}
	for _, size := range []int64{256 * mib, 1024 * mib} {
		raw := filepath.Join(dir, "disk.raw")
		makeRaw(t, raw, size, 3)
		qcow := filepath.Join(dir, "disk.qcow2")
		run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", raw, qcow)
		for _, kind := range []string{"raw", "qcow2"} {
			path := map[string]string{"raw": raw, "qcow2": qcow}[kind]
			srv := fileServer(t, path, nil)
			tg := garbageTarget(t, filepath.Join(dir, "target"), size)
			var err error
			heap, rss := peakDuring(t, func() {
				_, err = Install(testCtx(t), fast(Options{URL: srv.URL, Type: kind}), tg)
			})
			if err != nil {
				t.Fatalf("Install(%s, %d MiB) = %v", kind, size>>20, err)
			}
			t.Logf("%s %4d MiB image (%d MiB file): peak heap %.1f MiB, peak RSS %.1f MiB",
				kind, size>>20, fileSize(t, path)>>20, float64(heap)/mib, float64(rss)/mib)
			peaks[kind+strconv.FormatInt(size>>20, 10)] = heap
			if heap > 64*mib {
				t.Errorf("Install(%s, %d MiB) peak heap %d MiB, want <= 64", kind, size>>20, heap>>20)
			}
			tg.Close()
			os.Remove(tg.Name())
		}
	}
	// The pipeline's fixed buffers (8 MiB block cache, 5 × 1 MiB qcow2
	// chunks, 4 × 256 KiB hash buffers) fill more with the larger file, and
	// the GC adds noise: allow that much, no more. State that grew with the
	// image, even at 2 % of its size, would add over 15 MiB here.
	const fixedBuffers = 16 * mib
	for _, kind := range []string{"raw", "qcow2"} {
		small, big := peaks[kind+"256"], peaks[kind+"1024"]
		if big > small+fixedBuffers {
			t.Errorf("%s peak heap grew from %d to %d MiB between 256 MiB and 1 GiB images", kind, small>>20, big>>20)
		}
	}
}

// TestInstallXZLargeDictionary: an xz file with xz -9's 64 MiB dictionary
// and matches 20 MiB back installs correctly while the decoder keeps only
// xzWindow of the dictionary in memory, reading older bytes back from the
// target; the peak heap shows the 64 MiB dictionary was never allocated.
func TestInstallXZLargeDictionary(t *testing.T) {
	xzTool := needTool(t, "xz")
	dir := t.TempDir()
	raw := filepath.Join(dir, "far.raw")
	rnd := randomBytes(4*mib, 11)
	copy(rnd, mbrSector())
	img := make([]byte, 24*mib)
	copy(img, rnd)          // then 16 MiB of zeros,
	copy(img[20*mib:], rnd) // and the same 4 MiB again, 20 MiB back
	img[22*mib] ^= 1        // with a literal among the far matches
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		t.Fatal(err)
	}
	size := int64(len(img))
	img, rnd = nil, nil                              // not counted in the heap below
	for _, threads := range []string{"-T1", "-T2"} { // one block without sizes; blocks of 192 MiB with sizes
		t.Run(threads, func(t *testing.T) {
			xzf := filepath.Join(dir, "far"+threads+".raw.xz")
			out, err := exec.Command("sh", "-c", xzTool+" --lzma2=preset=1,dict=64MiB "+threads+" -c < "+raw+" > "+xzf).CombinedOutput()
			if err != nil {
				t.Fatalf("xz: %v: %s", err, out)
			}
			srv := fileServer(t, xzf, nil)
			tg := garbageTarget(t, filepath.Join(dir, "target"+threads), 64*mib)
			runtime.GC()
			heap, _ := peakDuring(t, func() {
				_, err = Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw"}), tg)
			})
			if err != nil {
				t.Fatalf("Install(%s) = %v", threads, err)
			}
			sameContent(t, tg.Name(), raw, size)
			t.Logf("xz %s, 64 MiB dictionary: peak heap %.1f MiB", threads, float64(heap)/mib)
			if heap > 48*mib {
				t.Errorf("Install(xz %s, 64 MiB dictionary) peak heap %d MiB, want < 48 (a %d MiB window, not 64)", threads, heap>>20, xzWindow>>20)
			}
		})
	}
}
