package image

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

const testImageSize = 64 * mib

// fixtures are generated once per test binary run.
var fixtures struct {
	once     sync.Once
	dir      string
	variants map[string]string
	oracle   string
}

func loadFixtures(t *testing.T) (map[string]string, string) {
	t.Helper()
	needTool(t, "qemu-img")
	fixtures.once.Do(func() {
		dir, err := os.MkdirTemp("", "byoi-image-test-")
		if err != nil {
			t.Fatal(err)
		}
		fixtures.dir = dir
		raw := filepath.Join(dir, "disk.raw")
		makeRaw(t, raw, testImageSize, 1)
		fixtures.variants = makeVariants(t, dir, raw)
		fixtures.oracle = filepath.Join(dir, "oracle.raw")
		oracle(t, fixtures.variants["qcow2-zstd"], fixtures.oracle)
	})
	if fixtures.variants == nil {
		t.Fatal("fixtures failed to build")
	}
	return fixtures.variants, fixtures.oracle
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtures.dir != "" {
		os.RemoveAll(fixtures.dir)
	}
	os.Exit(code)
}

func declared(name string) string {
	if strings.HasPrefix(name, "qcow2") {
		return "qcow2"
	}
	return "raw"
}

func TestInstallFormats(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, server := range []string{"range", "norange"} {
		for _, name := range []string{"raw", "raw-gzip", "raw-xz", "raw-zstd", "qcow2-v2", "qcow2-v3", "qcow2-zlib", "qcow2-zstd"} {
			t.Run(server+"/"+name, func(t *testing.T) {
				path := variants[name]
				var mw func(http.Handler) http.Handler
				if server == "norange" {
					mw = func(http.Handler) http.Handler { return noRange(path) }
				}
				srv := fileServer(t, path, mw)
				dir := t.TempDir()
				tg := garbageTarget(t, filepath.Join(dir, "disk"), testImageSize+8*mib)
				want := filepath.Join(dir, "want.raw")
				src := path
				if strings.HasPrefix(name, "raw-") { // qemu-img does not decompress
					src = variants["raw"]
				}
				oracle(t, src, want)
				var steps []boot.StepID
				var mu sync.Mutex
				res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(name),
					Progress: func(s boot.StepID, done, total int64) {
						mu.Lock()
						if len(steps) == 0 || steps[len(steps)-1] != s {
							steps = append(steps, s)
						}
						mu.Unlock()
					}}), tg)
				if err != nil {
					t.Fatalf("Install(%s) = %v", name, err)
				}
				sameContent(t, tg.Name(), want, testImageSize)
				if res.VirtualSize != testImageSize {
					t.Errorf("Install(%s).VirtualSize = %d, want %d", name, res.VirtualSize, testImageSize)
				}
				if res.Zeroed == 0 || res.Written >= testImageSize/2 {
					t.Errorf("Install(%s) wrote %d, zeroed %d: want sparse writes", name, res.Written, res.Zeroed)
				}
				if res.Digest != "" {
					t.Errorf("Install(%s).Digest = %s, want \"\" (no checksum asked, nothing hashed)", name, res.Digest)
				}
				if !containsAll(steps, boot.StepDownload, boot.StepCheck, boot.StepWrite) {
					t.Errorf("Install(%s) progress steps = %v, want download, check and write", name, steps)
				}
				t.Logf("%s: downloaded %d of %d-byte file, written %d, zeroed %d", name, res.Downloaded, fileSize(t, path), res.Written, res.Zeroed)
			})
		}
	}
}

func containsAll(have []boot.StepID, want ...boot.StepID) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func fileSize(t testing.TB, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

func fileDigest(t testing.TB, path string, h hash.Hash) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestInstallChecksums(t *testing.T) {
	variants, _ := loadFixtures(t)
	for _, name := range []string{"raw-gzip", "qcow2-v3"} {
		path := variants[name]
		srv := fileServer(t, path, nil)
		for typ, h := range map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New} {
			good := fileDigest(t, path, h())
			bad := strings.Repeat("0", len(good))
			for _, tc := range []struct {
				name, sum, wantErr string
			}{
				{"good", good, ""},
				{"good-uppercase", strings.ToUpper(good), ""},
				{"bad", bad, "Bad " + typ + " for downloaded file, got: " + good + " while expecting " + bad + "."},
			} {
				t.Run(name+"/"+typ+"/"+tc.name, func(t *testing.T) {
					tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
					res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(name), ChecksumType: typ, Checksum: tc.sum}), tg)
					if got := errMsg(err); got != tc.wantErr {
						t.Fatalf("Install(%s, %s) error = %q, want %q", typ, tc.name, got, tc.wantErr)
					}
					if err == nil && res.Digest != good {
						t.Errorf("Install(%s).Digest = %s, want %s", typ, res.Digest, good)
					}
					if err != nil && !isCustomer(err, boot.StepCheck) {
						t.Errorf("Install(%s) error = %#v, want customer error at check", typ, err)
					}
				})
			}
		}
	}
}

func errMsg(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func isCustomer(err error, step boot.StepID) bool {
	var e *Error
	return errors.As(err, &e) && e.Customer && e.Step == step
}

func TestInstallDeclaredErrors(t *testing.T) {
	variants, _ := loadFixtures(t)
	raw := variants["raw"]
	for _, tc := range []struct {
		name, file string
		o          Options
		disk       int64
		want       string
	}{
		{"raw declared qcow2", raw, Options{Type: "qcow2"}, testImageSize,
			"image provided format is raw which does not match expected qcow2 format"},
		{"gzip raw declared qcow2", variants["raw-gzip"], Options{Type: "qcow2"}, testImageSize,
			"image provided format is raw which does not match expected qcow2 format"},
		{"qcow2 declared raw", variants["qcow2-v2"], Options{Type: "raw"}, testImageSize,
			"image provided format is qcow2 which does not match expected raw format"},
		{"unknown type", raw, Options{Type: "ova"}, testImageSize, "Bad format image, expected: qcow2, raw."},
		{"checksum without type", raw, Options{Type: "raw", Checksum: "ab"}, testImageSize,
			"Please provide checkSum AND checkSumType or none of them"},
		{"raw larger than disk", raw, Options{Type: "raw"}, testImageSize - 512,
			"image provided has a size of 67108864 bytes which is larger than DISK of 67108352 bytes"},
		{"qcow2 larger than disk", variants["qcow2-zlib"], Options{Type: "qcow2"}, 32 * mib,
			"image provided has a size of 67108864 bytes which is larger than DISK of 33554432 bytes"},
		{"xz raw larger than disk", variants["raw-xz"], Options{Type: "raw"}, 32 * mib,
			"image provided has a size of 67108864 bytes which is larger than DISK of 33554432 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fileServer(t, tc.file, nil)
			path := filepath.Join(t.TempDir(), "disk")
			tg := garbageTarget(t, path, tc.disk)
			o := tc.o
			o.URL = srv.URL
			_, err := Install(testCtx(t), fast(o), tg)
			want := strings.ReplaceAll(tc.want, "DISK", path)
			if diff := cmp.Diff(want, errMsg(err)); diff != "" {
				t.Errorf("Install(%s) error mismatch (-want +got):\n%s", tc.name, diff)
			}
			var e *Error
			if !errors.As(err, &e) || !e.Customer {
				t.Errorf("Install(%s) = %#v, want a customer *Error", tc.name, err)
			}
		})
	}
}

func TestNoPartitionTable(t *testing.T) {
	dir := t.TempDir()
	ext4 := make([]byte, 2*mib)
	ext4[1080], ext4[1081] = 0x53, 0xef
	iso := make([]byte, 2*mib)
	copy(iso[32769:], "CD001")
	random := make([]byte, 2*mib)
	for i := range random {
		random[i] = byte(i*7 + i>>9)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"ext4", ext4, "Linux ext2/ext3/ext4 filesystem"},
		{"iso", iso, "ISO 9660 CD-ROM filesystem"},
		{"zeros", make([]byte, 2*mib), "data (all zeros)"},
		{"data", random, "data"},
		{"text", []byte("#!/bin/sh\necho hello\n"), "text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			srv := fileServer(t, p, nil)
			tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), 4*mib)
			_, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw"}), tg)
			want := "image provided format is not of type raw because no partition table was found. It seems to contain: " + tc.want
			if got := errMsg(err); got != want {
				t.Errorf("Install(%s) error = %q, want %q", tc.name, got, want)
			}
		})
	}
}
