package image

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/initramfs/preflight"
)

// BenchmarkPreflightCost measures what pre-flight adds to an installation
// over HTTP (loopback), as P1 does: a 1 GiB GPT image (BIOS boot
// partition, an 8 MiB ESP holding Debian's loaders, ~1 GiB of random
// data) as qcow2 and as raw.zst onto a file target, installed with
// Firmware unknown (no boot checks) and with UEFI (partition table, ESP,
// loader picked), alternately. It reports the medians and pre-flight's
// share of the install time. Run it alone, on a quiet machine:
//
//	flock /tmp/byoi-vm.lock go test ./initramfs/image/ -run '^$' -bench PreflightCost -benchtime 5x
func BenchmarkPreflightCost(b *testing.B) {
	dir := b.TempDir()
	raw := bootImage(b, false, bootPart{typ: "ef02", mib: 1}, bootPart{typ: "ef00", mib: 8, files: debianESP}, bootPart{typ: "8300", mib: 1012})
	f, err := os.OpenFile(raw, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4*mib)
	for off := int64(10 * mib); off < 1022*mib; off += int64(len(buf)) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	files := map[string]string{"qcow2": filepath.Join(dir, "img.qcow2"), "raw.zst": filepath.Join(dir, "img.raw.zst")}
	run(b, needTool(b, "qemu-img"), "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=1.1", raw, files["qcow2"])
	run(b, needTool(b, "zstd"), "-q", "-3", "-T0", "-o", files["raw.zst"], raw)
	os.Remove(raw)
	for _, name := range []string{"qcow2", "raw.zst"} {
		b.Run(name, func(b *testing.B) {
			srv := fileServer(b, files[name], nil)
			path := filepath.Join(dir, "target")
			tg := randomTarget(b, path, 1100*mib, 9)
			typ := "raw"
			if name == "qcow2" {
				typ = "qcow2"
			}
			var plain, checked, inStep []time.Duration
			install := func(fw preflight.Firmware) time.Duration {
				var stepStart, stepEnd time.Time
				progress := func(s boot.StepID, done, total int64) {
					if s == boot.StepPreflight && done == 0 {
						stepStart = time.Now()
					} else if s == boot.StepPreflight && done == total {
						stepEnd = time.Now()
					}
				}
				start := time.Now()
				res, err := Install(testCtx(b), fast(Options{URL: srv.URL, Type: typ, Firmware: fw, Progress: progress}), tg)
				d := time.Since(start)
				if err != nil {
					b.Fatalf("Install = %v", err)
				}
				if fw == preflight.UEFI && res.Loader != `\EFI\debian\shimx64.efi` {
					b.Fatalf("Install loader = %q, note %q; want shim picked", res.Loader, res.PreflightNote)
				}
				if fw == preflight.UEFI {
					inStep = append(inStep, stepEnd.Sub(stepStart))
				}
				return d
			}
			install(preflight.UEFI) // warm the page cache
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					plain = append(plain, install(preflight.FirmwareUnknown))
					checked = append(checked, install(preflight.UEFI))
				} else {
					checked = append(checked, install(preflight.UEFI))
					plain = append(plain, install(preflight.FirmwareUnknown))
				}
			}
			mp, mc := median(plain), median(checked)
			b.ReportMetric(mp.Seconds(), "s-no-preflight")
			b.ReportMetric(mc.Seconds(), "s-preflight")
			b.ReportMetric(100*(mc-mp).Seconds()/mc.Seconds(), "%-preflight")
			b.ReportMetric(float64(median(inStep).Microseconds())/1000, "ms-in-step")
			b.ReportMetric(100*median(inStep).Seconds()/mc.Seconds(), "%-in-step")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
