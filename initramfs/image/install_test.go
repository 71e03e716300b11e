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
	"github.com/google/go-cmp/cmp/cmpopts"
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
				if !containsAll(steps, boot.StepDownload, boot.StepCheck, boot.StepPreflight, boot.StepWrite) {
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
				name, sum string
				want      *Error
			}{
				{"good", good, nil},
				{"good-uppercase", strings.ToUpper(good), nil},
				{"bad", bad, &Error{Kind: KindChecksumMismatch, Step: boot.StepCheck, ChecksumType: typ, Got: good, Want: bad}},
			} {
				t.Run(name+"/"+typ+"/"+tc.name, func(t *testing.T) {
					tg := garbageTarget(t, filepath.Join(t.TempDir(), "disk"), testImageSize)
					res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: declared(name), ChecksumType: typ, Checksum: tc.sum}), tg)
					if diff := cmp.Diff(tc.want, failure(t, err), noCause); diff != "" {
						t.Fatalf("Install(%s, %s) error mismatch (-want +got):\n%s", typ, tc.name, diff)
					}
					if err == nil && res.Digest != good {
						t.Errorf("Install(%s).Digest = %s, want %s", typ, res.Digest, good)
					}
				})
			}
		}
	}
}

// failure returns err as an *Error: nil for nil, and a test failure for
// an error of another type.
func failure(t testing.TB, err error) *Error {
	t.Helper()
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}

// isKind says whether err is an *Error of kind k at step.
func isKind(err error, k Kind, step boot.StepID) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k && e.Step == step
}

// causeOf is the message of an *Error's cause, "" if none.
func causeOf(e *Error) string {
	if e == nil || e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

// noCause compares *Error values without their causes.
var noCause = cmpopts.IgnoreFields(Error{}, "Err")

func TestInstallDeclaredErrors(t *testing.T) {
	variants, _ := loadFixtures(t)
	raw := variants["raw"]
	check, pre := boot.StepCheck, boot.StepPreflight
	for _, tc := range []struct {
		name, file string
		o          Options
		disk       int64
		want       Error // Target "DISK" is the target's path
	}{
		{"raw declared qcow2", raw, Options{Type: "qcow2"}, testImageSize,
			Error{Kind: KindFormatMismatch, Step: pre, Found: "raw", Declared: "qcow2"}},
		{"gzip raw declared qcow2", variants["raw-gzip"], Options{Type: "qcow2"}, testImageSize,
			Error{Kind: KindFormatMismatch, Step: pre, Found: "raw", Declared: "qcow2"}},
		{"qcow2 declared raw", variants["qcow2-v2"], Options{Type: "raw"}, testImageSize,
			Error{Kind: KindFormatMismatch, Step: pre, Found: "qcow2", Declared: "raw"}},
		{"unknown type", raw, Options{Type: "ova"}, testImageSize, Error{Kind: KindBadImageType, Step: check, Declared: "ova"}},
		{"checksum without type", raw, Options{Type: "raw", Checksum: "ab"}, testImageSize,
			Error{Kind: KindChecksumPair, Step: check}},
		{"unknown checksum type", raw, Options{Type: "raw", ChecksumType: "CRC32", Checksum: "ab"}, testImageSize,
			Error{Kind: KindBadChecksumType, Step: check, ChecksumType: "crc32"}},
		{"raw larger than disk", raw, Options{Type: "raw"}, testImageSize - 512,
			Error{Kind: KindTooLarge, Step: pre, Size: testImageSize, Target: "DISK", TargetSize: testImageSize - 512}},
		{"qcow2 larger than disk", variants["qcow2-zlib"], Options{Type: "qcow2"}, 32 * mib,
			Error{Kind: KindTooLarge, Step: pre, Size: testImageSize, Target: "DISK", TargetSize: 32 * mib}},
		// A compressed stream stops at the first byte past the end.
		{"xz raw larger than disk", variants["raw-xz"], Options{Type: "raw"}, 32 * mib,
			Error{Kind: KindTooLarge, Step: check, Size: 32*mib + 1, AtLeast: true, Target: "DISK", TargetSize: 32 * mib}},
		{"gzip raw larger than disk", variants["raw-gzip"], Options{Type: "raw"}, 32*mib + 3,
			Error{Kind: KindTooLarge, Step: check, Size: 32*mib + 4, AtLeast: true, Target: "DISK", TargetSize: 32*mib + 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fileServer(t, tc.file, nil)
			path := filepath.Join(t.TempDir(), "disk")
			tg := garbageTarget(t, path, tc.disk)
			o := tc.o
			o.URL = srv.URL
			_, err := Install(testCtx(t), fast(o), tg)
			want := tc.want
			if want.Target == "DISK" {
				want.Target = path
			}
			if diff := cmp.Diff(&want, failure(t, err), noCause); diff != "" {
				t.Errorf("Install(%s) error mismatch (-want +got):\n%s", tc.name, diff)
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
			want := &Error{Kind: KindNoPartitionTable, Step: boot.StepPreflight, Contents: tc.want}
			if diff := cmp.Diff(want, failure(t, err), noCause); diff != "" {
				t.Errorf("Install(%s) error mismatch (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}
