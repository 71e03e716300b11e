package image

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	lib "github.com/lima-vm/go-qcow2reader/image/qcow2"

	"github.com/byoi/byoi/initramfs/image/qcow2check"
)

// libZstd lets go-qcow2reader, the tests' oracle, read zstd clusters.
func libZstd() {
	lib.SetDecompressor(lib.CompressionTypeZstd, func(r io.Reader) (io.ReadCloser, error) {
		d, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	})
}

// TestQcow2MapMatchesLibrary is a differential test of the L1/L2 walk
// against go-qcow2reader on qemu-img's images: the extents tile the disk in
// order, every cluster is zero exactly where the library says so, and every
// data extent decodes to the library's bytes.
func TestQcow2MapMatchesLibrary(t *testing.T) {
	variants, _ := loadFixtures(t)
	libZstd()
	for _, name := range []string{"qcow2-v2", "qcow2-v3", "qcow2-zlib", "qcow2-zstd"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(variants[name])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := qcow2check.Check(f, fileSize(t, variants[name]))
			if err != nil {
				t.Fatalf("Check(%s) = %v", name, err)
			}
			img, err := lib.Open(f, nil)
			if err != nil {
				t.Fatalf("lib.Open(%s) = %v", name, err)
			}
			m, err := newQcow2Map(f, h)
			if err != nil {
				t.Fatalf("newQcow2Map(%s) = %v", name, err)
			}
			d := newClusterDecoder(f, h.CompressionType == 1, h.ClusterSize())
			defer d.Close()
			cs := h.ClusterSize()
			var pos int64
			kinds := map[extentKind]int{}
			for {
				e, err := m.next()
				if err != nil {
					break
				}
				kinds[e.kind]++
				if e.off != pos || e.n <= 0 {
					t.Fatalf("extent %+v, want one starting at %d", e, pos)
				}
				for c := e.off; c < e.off+e.n; c += cs {
					ext, err := img.Extent(c, min(cs, e.off+e.n-c))
					if err != nil {
						t.Fatalf("lib Extent(%d) = %v", c, err)
					}
					if libZero := ext.Zero || !ext.Allocated; libZero != (e.kind == extZero) {
						t.Errorf("cluster at %d: map kind %d, library zero=%v", c, e.kind, libZero)
					}
				}
				if e.kind != extZero {
					got := make([]byte, e.n)
					if err := d.fill(got, e.off, []extent{e}); err != nil {
						t.Fatalf("fill(%+v) = %v", e, err)
					}
					want := make([]byte, e.n)
					if n, err := img.ReadAt(want, e.off); n < len(want) {
						t.Fatalf("lib ReadAt(%d, %d) = %v", e.off, e.n, err)
					}
					if !bytes.Equal(got, want) {
						t.Errorf("extent %+v decodes to other bytes than the library's", e)
					}
				}
				pos += e.n
			}
			if pos != int64(h.Size) {
				t.Errorf("extents cover %d bytes, want %d", pos, h.Size)
			}
			// qemu-img writes uncompressed data contiguously: runs merge.
			if name == "qcow2-v3" && kinds[extData] >= int(testImageSize/cs)/4 {
				t.Errorf("%s: %d data extents, want merged runs", name, kinds[extData])
			}
			t.Logf("%s: extents by kind %v", name, kinds)
		})
	}
}

// TestClusterDecoderGroup: compressed clusters stored next to each other are
// read with one read, as long as they fit in the scratch buffer.
func TestClusterDecoderGroup(t *testing.T) {
	c := func(host, clen int64) extent { return extent{kind: extCompressed, host: host, clen: clen, n: 65536} }
	for _, tc := range []struct {
		name string
		runs []extent
		want [3]int64 // end index, start, end
	}{
		{"one", []extent{c(1000, 500)}, [3]int64{1, 1000, 1500}},
		{"adjacent sharing a sector", []extent{c(1000, 500), c(1500, 700), c(2200, 100)}, [3]int64{3, 1000, 2300}},
		{"gap over a sector", []extent{c(1000, 500), c(3000, 700)}, [3]int64{1, 1000, 1500}},
		{"backwards", []extent{c(5000, 500), c(1000, 700)}, [3]int64{1, 5000, 5500}},
		{"data run ends the group", []extent{c(1000, 500), {kind: extData, host: 1500, n: 65536}}, [3]int64{1, 1000, 1500}},
		{"scratch full", []extent{c(0, 600<<10), c(600<<10, 600<<10)}, [3]int64{1, 0, 600 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newClusterDecoder(nil, false, 65536)
			j, start, end := d.group(tc.runs, 0)
			if diff := cmp.Diff(tc.want, [3]int64{int64(j), start, end}); diff != "" {
				t.Errorf("group(%s) (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

// TestQcow2DownloadedOnce: qemu-img lays out an image in guest order, so an
// install reads the file once, front to back, with no re-fetch: also when
// the data of one L2 table is longer than the block cache (a run must not
// look ahead into the next L2 table, which sits after that data).
func TestQcow2DownloadedOnce(t *testing.T) {
	variants, _ := loadFixtures(t)
	dir := t.TempDir()
	dense := filepath.Join(dir, "dense.raw")
	// 40 MiB: more than one L2 table of 16 KiB clusters (32 MiB each),
	// and more than the block cache.
	b := randomBytes(40*mib, 3)
	copy(b, mbrSector())
	if err := os.WriteFile(dense, b, 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"fixture v3": variants["qcow2-v3"], "fixture zlib": variants["qcow2-zlib"], "fixture zstd": variants["qcow2-zstd"]}
	for _, cs := range []string{"4096", "16384"} { // 64 KiB: the fixtures
		p := filepath.Join(dir, "dense-"+cs+".qcow2")
		run(t, needTool(t, "qemu-img"), "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size="+cs, dense, p)
		files["dense, "+cs+"-byte clusters"] = p
	}
	for name, p := range files {
		t.Run(name, func(t *testing.T) {
			srv := fileServer(t, p, nil)
			tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
			res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "qcow2", Logger: testLogger(t)}), tg)
			if err != nil {
				t.Fatalf("Install(%s) = %v", name, err)
			}
			if size := fileSize(t, p); res.Downloaded != size || res.Refetched != 0 || res.Requests != 1 {
				t.Errorf("Install(%s) downloaded %d bytes of a %d-byte file in %d requests, %d blocks re-fetched; want each byte once, one request",
					name, res.Downloaded, size, res.Requests, res.Refetched)
			}
		})
	}
}

// randomBytes returns n pseudo-random bytes (n a multiple of 8).
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	fillRandom(b, seed)
	return b
}

// testLogger logs to the test's output at debug level (re-fetches, resumes).
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
