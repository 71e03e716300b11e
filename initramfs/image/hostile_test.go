package image

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// TestInstallHostileQcow2 serves patched copies of a real qemu-img image and
// checks each fails quickly, with a clear message and bounded allocation.
func TestInstallHostileQcow2(t *testing.T) {
	variants, _ := loadFixtures(t)
	base, err := os.ReadFile(variants["qcow2-zlib"])
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	l1 := be.Uint64(base[40:])
	l2 := be.Uint64(base[l1:]) & 0x00fffffffffffe00
	for _, tc := range []struct {
		name   string
		mutate func(b []byte) []byte
		want   string
	}{
		{"huge cluster_bits", func(b []byte) []byte { be.PutUint32(b[20:], 40); return b }, "cluster_bits 40"},
		{"huge l1", func(b []byte) []byte { be.PutUint32(b[36:], 0xffffffff); return b }, "l1_size"},
		{"backing file", func(b []byte) []byte {
			copy(b[1024:], "/etc/shadow")
			be.PutUint64(b[8:], 1024)
			be.PutUint32(b[16:], 11)
			return b
		}, "backing files"},
		{"external data file", func(b []byte) []byte { b[79] |= 1 << 2; return b }, "external data"},
		{"encryption", func(b []byte) []byte { be.PutUint32(b[32:], 1); return b }, "encrypted"},
		{"truncated tables", func(b []byte) []byte { return b[:l2+100] }, "outside the file"},
		{"l2 outside file", func(b []byte) []byte {
			be.PutUint64(b[l2:], 1<<62|uint64(len(b))*4)
			return b
		}, "outside the file"},
		{"l2 loops to itself", func(b []byte) []byte { be.PutUint64(b[l2:], l2|1<<63); return b }, "is an L2 table"},
		{"garbage compressed cluster", func(b []byte) []byte {
			off := be.Uint64(b[l2:]) & (1<<54 - 1)
			for i := range 512 {
				b[off+uint64(i)] = byte(i)
			}
			return b
		}, "decompress cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.mutate(append([]byte(nil), base...))
			path := filepath.Join(t.TempDir(), "hostile.qcow2")
			if err := os.WriteFile(path, img, 0o644); err != nil {
				t.Fatal(err)
			}
			srv := fileServer(t, path, nil)
			tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "qcow2"}), tg)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if !isKind(err, KindBadQcow2, boot.StepCheck) || !strings.Contains(failure(t, err).Reason, tc.want) {
				t.Fatalf("Install(%s) error = %v, want a qcow2 validation error containing %q", tc.name, err, tc.want)
			}
			if elapsed > 5*time.Second {
				t.Errorf("Install(%s) took %v, want < 5s", tc.name, elapsed)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("Install(%s) allocated %d MiB, want < 64", tc.name, alloc>>20)
			}
		})
	}
}
