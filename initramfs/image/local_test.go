package image

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

// installLocal runs InstallLocal on the file at path.
func installLocal(t *testing.T, path string, o Options, tg Target) (Result, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return InstallLocal(testCtx(t), o, f, fileSize(t, path), tg)
}

// TestInstallLocal: every format installed from a local file equals
// qemu-img's conversion, nothing is downloaded and, without a checksum,
// nothing is hashed.
func TestInstallLocal(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, name := range []string{"raw", "raw-gzip", "raw-xz", "raw-zstd", "qcow2-v2", "qcow2-v3", "qcow2-zlib", "qcow2-zstd"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			want := filepath.Join(dir, "want.raw")
			src := variants[name]
			if strings.HasPrefix(name, "raw-") {
				src = variants["raw"]
			}
			oracle(t, src, want)
			tg := garbageTarget(t, filepath.Join(dir, "disk"), testImageSize+8*mib)
			res, err := installLocal(t, variants[name], Options{Type: declared(name)}, tg)
			if err != nil {
				t.Fatalf("InstallLocal(%s) = %v", name, err)
			}
			sameContent(t, tg.Name(), want, testImageSize)
			got := [3]int64{res.VirtualSize, res.Downloaded, int64(len(res.Digest))}
			if want := [3]int64{testImageSize, 0, 0}; got != want {
				t.Errorf("InstallLocal(%s) virtual size, downloaded, digest length = %v, want %v", name, got, want)
			}
		})
	}
}

// TestInstallLocalChecksum: the hashing goroutine covers the whole file.
func TestInstallLocalChecksum(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, name := range []string{"raw-zstd", "qcow2-zlib"} {
		path := variants[name]
		good := fileDigest(t, path, sha256.New())
		bad := strings.Repeat("0", len(good))
		for _, tc := range []struct {
			name, sum string
			want      *Error
		}{
			{"good", good, nil},
			{"bad", bad, &Error{Kind: KindChecksumMismatch, Step: boot.StepCheck, ChecksumType: "sha256", Got: good, Want: bad}},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
				res, err := installLocal(t, path, Options{Type: declared(name), ChecksumType: "sha256", Checksum: tc.sum}, tg)
				if diff := cmp.Diff(tc.want, failure(t, err), noCause); diff != "" {
					t.Fatalf("InstallLocal(%s) error mismatch (-want +got):\n%s", tc.name, diff)
				}
				if err == nil && res.Digest != good {
					t.Errorf("InstallLocal(%s).Digest = %s, want %s", tc.name, res.Digest, good)
				}
			})
		}
	}
}

// TestInstallLocalTruncated: a file shorter than its tables say fails as a
// broken image, not with a panic or a short success.
func TestInstallLocalTruncated(t *testing.T) {
	variants, _ := loadFixtures(t)
	b, err := os.ReadFile(variants["qcow2-v3"])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "short.qcow2")
	if err := os.WriteFile(path, b[:len(b)-300<<10], 0o644); err != nil {
		t.Fatal(err)
	}
	tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
	_, err = installLocal(t, path, Options{Type: "qcow2"}, tg)
	if !isKind(err, KindBadQcow2, boot.StepCheck) {
		t.Fatalf("InstallLocal(truncated) error = %v, want a qcow2 validation error", err)
	}
}

// TestInstallQcow2Geometry: cluster sizes from 512 bytes to 2 MiB and a
// virtual size that ends inside a cluster, uncompressed and compressed,
// match qemu-img.
func TestInstallQcow2Geometry(t *testing.T) {
	qemuImg := needTool(t, "qemu-img")
	dir := t.TempDir()
	const size = 24*mib + 3584 // the last cluster is partial for every size but 512
	raw := filepath.Join(dir, "odd.raw")
	makeRaw(t, raw, size, 3)
	for _, cluster := range []string{"512", "64K", "2M"} {
		for _, comp := range []string{"none", "zlib", "zstd"} {
			name := fmt.Sprintf("cluster %s %s", cluster, comp)
			t.Run(name, func(t *testing.T) {
				img := filepath.Join(t.TempDir(), "odd.qcow2")
				opts := "compat=1.1,cluster_size=" + cluster
				args := []string{"convert", "-f", "raw", "-O", "qcow2"}
				switch comp {
				case "zlib":
					args = append(args, "-c")
				case "zstd":
					args = append(args, "-c")
					opts += ",compression_type=zstd"
				}
				run(t, qemuImg, append(args, "-o", opts, raw, img)...)
				for _, via := range []string{"local", "http"} {
					tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), size+mib)
					var err error
					if via == "local" {
						_, err = installLocal(t, img, Options{Type: "qcow2"}, tg)
					} else {
						srv := fileServer(t, img, nil)
						_, err = Install(testCtx(t), fast(Options{URL: srv.URL, Type: "qcow2"}), tg)
					}
					if err != nil {
						t.Fatalf("install %s via %s = %v", name, via, err)
					}
					sameContent(t, tg.Name(), raw, size)
				}
			})
		}
	}
}
