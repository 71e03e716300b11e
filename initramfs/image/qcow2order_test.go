package image

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/initramfs/image/qcow2check"
)

// orderReader records the offset of every ReadAt as it starts, and the
// reads that started while another was running; each read takes a little
// while, so reads issued by concurrent goroutines overlap and their order
// is the scheduler's.
type orderReader struct {
	f        *os.File
	mu       sync.Mutex
	offs     []int64
	active   int
	overlaps []int64 // offsets of reads that started beside another
}

func (r *orderReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	r.offs = append(r.offs, off)
	if r.active++; r.active > 1 {
		r.overlaps = append(r.overlaps, off)
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.active--
		r.mu.Unlock()
	}()
	time.Sleep(200 * time.Microsecond)
	return r.f.ReadAt(p, off)
}

// TestQcow2ReadsInFileOrder: the decode workers take turns at reading, so
// an image written front to back by qemu-img is read front to back (over
// HTTP: one stream, nothing fetched behind it), and the disk still equals
// qemu-img's conversion. With 4 KiB clusters an L2 table maps 2 MiB and
// sits between the data it follows and the data it maps: the producer loads
// it only when the reads before it are done, so no read ever runs beside
// another (over HTTP the table's read would pass data the workers have not
// read yet, and the cache could drop it before they do).
func TestQcow2ReadsInFileOrder(t *testing.T) {
	qemuImg := needTool(t, "qemu-img")
	dir := t.TempDir()
	const size = 24 * mib
	raw := filepath.Join(dir, "dense.raw")
	data := make([]byte, size)
	fillRandom(data, 12)
	compressible(data) // so that -c compresses
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"v3":                       {"-o", "compat=1.1"},
		"zlib":                     {"-c", "-o", "compat=1.1"},
		"zstd":                     {"-c", "-o", "compat=1.1,compression_type=zstd"},
		"v3, 4096-byte clusters":   {"-o", "compat=1.1,cluster_size=4096"},
		"zlib, 4096-byte clusters": {"-c", "-o", "compat=1.1,cluster_size=4096"},
	} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(dir, name+".qcow2")
			run(t, qemuImg, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, img)...)
			if compressed := fileSize(t, img) < size*3/4; compressed != !strings.HasPrefix(name, "v3") {
				t.Fatalf("%s: %d bytes for %d of data, want compressed clusters only with -c", name, fileSize(t, img), size)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			src := &orderReader{f: f}
			tg := garbageTarget(t, filepath.Join(dir, name+".disk"), size)
			if _, err := InstallLocal(testCtx(t), Options{Type: "qcow2"}, src, fileSize(t, img), tg); err != nil {
				t.Fatalf("InstallLocal(%s) = %v", name, err)
			}
			sameContent(t, tg.Name(), raw, size)
			// qemu-img puts the header, L1 and L2 tables before the data
			// they map, but a compressed cluster can start in the sector
			// before its table: reads go forward by the remote's blocks
			// (one read can start in the block where the one before it
			// started, which the stream has read and the cache holds).
			blocks := make([]int64, len(src.offs))
			for i, off := range src.offs {
				blocks[i] = off / blockSize
			}
			if !slices.IsSorted(blocks) {
				t.Errorf("InstallLocal(%s) read the file at %v, want offsets in file order", name, src.offs)
			}
			if len(src.overlaps) > 0 {
				t.Errorf("InstallLocal(%s): %d reads started while another was running (at %v), want one read at a time", name, len(src.overlaps), src.overlaps)
			}
		})
	}
}

// TestQcow2MixedChunks: an image whose chunks alternate between clusters
// qemu-img compressed and clusters it stored as they are (random data does
// not compress), so uncompressed runs (read with readRun, their last block
// not cached) and compressed clusters follow each other: one read at a
// time, the file downloaded once over HTTP, and the disk equal to the
// image.
func TestQcow2MixedChunks(t *testing.T) {
	qemuImg := needTool(t, "qemu-img")
	dir := t.TempDir()
	const size = 16 * mib
	raw := filepath.Join(dir, "mixed.raw")
	data := make([]byte, size)
	fillRandom(data, 21)
	for i := 0; i < size; i += 2 * mib { // every other MiB compresses
		compressible(data[i : i+mib])
	}
	copy(data, mbrSector())
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "mixed.qcow2")
	run(t, qemuImg, "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compat=1.1", raw, img)

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := qcow2check.Check(f, fileSize(t, img))
	if err != nil {
		t.Fatal(err)
	}
	m, err := newQcow2Map(f, h)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[extentKind]int64{}
	for {
		r, err := m.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds[r.kind] += r.n
	}
	if kinds[extData] < 4*mib || kinds[extCompressed] < 4*mib {
		t.Fatalf("image holds %d bytes of uncompressed and %d of compressed clusters, want both", kinds[extData], kinds[extCompressed])
	}

	src := &orderReader{f: f}
	tg := garbageTarget(t, filepath.Join(dir, "local.disk"), size)
	if _, err := InstallLocal(testCtx(t), Options{Type: "qcow2"}, src, fileSize(t, img), tg); err != nil {
		t.Fatalf("InstallLocal = %v", err)
	}
	sameContent(t, tg.Name(), raw, size)
	// qemu-img places compressed clusters apart from the others, so the
	// file is not read strictly in order; the turns still hold.
	if len(src.overlaps) > 0 {
		t.Errorf("InstallLocal: %d reads started while another was running (at %v), want one at a time", len(src.overlaps), src.overlaps)
	}

	srv := fileServer(t, img, nil)
	tg = garbageTarget(t, filepath.Join(dir, "http.disk"), size)
	res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "qcow2", Logger: testLogger(t)}), tg)
	if err != nil {
		t.Fatalf("Install = %v", err)
	}
	sameContent(t, tg.Name(), raw, size)
	if res.Downloaded != fileSize(t, img) || res.Refetched != 0 || res.Requests != 1 {
		t.Errorf("Install downloaded %d bytes of a %d-byte file in %d requests, %d blocks re-fetched; want each byte once, one request",
			res.Downloaded, fileSize(t, img), res.Requests, res.Refetched)
	}
}

// compressible zeroes the first half of every KiB of b (random data
// otherwise), so that qemu-img -c stores its clusters compressed.
func compressible(b []byte) {
	for i := 0; i < len(b); i += 1024 {
		clear(b[i:min(i+512, len(b))])
	}
}
