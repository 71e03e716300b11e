package image

import (
	"bufio"
	"os"
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
