package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loopDevice attaches a garbage-filled file to a loop device (root only),
// with extra losetup arguments (e.g. "--read-only").
func loopDevice(t *testing.T, size int64, extra ...string) string {
	t.Helper()
	need := func(ok bool, why string) {
		if ok {
			return
		}
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("loop device test: %s", why)
		}
		t.Skipf("loop device test: %s", why)
	}
	need(os.Geteuid() == 0, "needs root")
	losetup, err := exec.LookPath("losetup")
	need(err == nil, "losetup not found")
	backing := filepath.Join(t.TempDir(), "loop.img")
	garbageTarget(t, backing, size).Close()
	out, err := exec.Command(losetup, append(extra, "--find", "--show", backing)...).CombinedOutput()
	need(err == nil, "losetup --find failed: "+strings.TrimSpace(string(out)))
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func TestInstallLoopDevice(t *testing.T) {
	variants, oracleRaw := loadFixtures(t)
	for _, name := range []string{"raw", "raw-gzip", "raw-xz", "qcow2-zstd", "qcow2-v2"} {
		t.Run(name, func(t *testing.T) {
			dev := loopDevice(t, testImageSize+4*mib)
			tg, err := OpenTarget(dev)
			if err != nil {
				t.Fatalf("OpenTarget(%s) = %v", dev, err)
			}
			defer tg.Close()
			if got, want := tg.Size(), int64(testImageSize+4*mib); got != want {
				t.Fatalf("OpenTarget(%s).Size() = %d, want %d", dev, got, want)
			}
			srv := fileServer(t, variants[name], nil)
			res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(name)}), tg)
			if err != nil {
				t.Fatalf("Install(%s on %s) = %v", name, dev, err)
			}
			sameContent(t, dev, oracleRaw, testImageSize)
			t.Logf("%s on %s: written %d, zeroed %d", name, dev, res.Written, res.Zeroed)
		})
	}
}
