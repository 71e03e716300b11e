package image

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
)

// skippable is a zstd skippable frame (magic 0x184d2a5x) holding data.
func skippable(nibble byte, data []byte) []byte {
	n := len(data)
	return append([]byte{0x50 | nibble, 0x2a, 0x4d, 0x18, byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}, data...)
}

func TestCompressionSkippableFrames(t *testing.T) {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"zstd frame", frame, "zstd"},
		{"pzstd: skippable frame giving the size", cat(skippable(0, []byte{0xad, 0x86, 0x01, 0x00}), frame), "zstd"},
		{"two skippable frames", cat(skippable(0xf, []byte("abc")), skippable(3, nil), frame), "zstd"},
		{"skippable frame running past the head", skippable(0, make([]byte, 100))[:50], "zstd"},
		{"skippable frame then gzip", cat(skippable(0, []byte{1, 2, 3, 4}), []byte{0x1f, 0x8b, 8, 0}), ""},
		{"skippable magic, short", []byte{0x50, 0x2a, 0x4d, 0x18, 4}, ""},
		{"not a skippable nibble", cat([]byte{0x60, 0x2a, 0x4d, 0x18, 0, 0, 0, 0}, frame), ""},
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, "gzip"},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}, "xz"},
		{"mbr", mbrSector(), ""},
	} {
		if got := compression(tc.head); got != tc.want {
			t.Errorf("compression(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestInstallPzstd: a file pzstd wrote (each frame behind a skippable frame
// that gives its size) is installed as zstd.
func TestInstallPzstd(t *testing.T) {
	variants, _ := loadFixtures(t)
	pzstd := needTool(t, "pzstd")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.raw.zst")
	run(t, pzstd, "-q", "-p", "2", "-3", variants["raw"], "-o", img)
	head, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if head[0] != 0x50 {
		t.Fatalf("pzstd output starts with %#x, want a skippable frame (0x50)", head[0])
	}
	srv := fileServer(t, img, nil)
	tg := garbageTarget(t, filepath.Join(dir, "disk"), testImageSize)
	res, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw"}), tg)
	if err != nil {
		t.Fatalf("Install(pzstd file) = %v", err)
	}
	if res.Compression != "zstd" || res.VirtualSize != testImageSize {
		t.Errorf("Install(pzstd file) compression %q, virtual size %d; want zstd, %d", res.Compression, res.VirtualSize, testImageSize)
	}
	sameContent(t, tg.Name(), variants["raw"], testImageSize)
}

// TestGzipTrailing: members concatenated and zero padding after the last
// member are accepted (as gzip -d does); anything else after a member is
// refused at its first byte, naming where it is, and nothing decoded in
// the same piece as the garbage is written.
func TestGzipTrailing(t *testing.T) {
	// 6 MiB: data, zeros, and 512 KiB of data at the end.
	const size = 6 * mib
	raw := make([]byte, size)
	copy(raw, randomBytes(mib, 21))
	copy(raw, mbrSector())
	copy(raw[size-512<<10:], randomBytes(512<<10, 22))
	rawPath := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	member := compressBytes(t, nil, "gzip", raw)
	half := compressBytes(t, nil, "gzip", raw[:size/2])
	rest := compressBytes(t, nil, "gzip", raw[size/2:])
	m := int64(len(member))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		file []byte
		want string // "" for success, else what the reason must contain
	}{
		{"one member", member, ""},
		{"two members", cat(half, rest), ""},
		{"one zero byte", cat(member, []byte{0}), ""},
		{"zero padding to 1 MiB", cat(member, make([]byte, mib-len(member)%mib)), ""},
		{"zero padding, 3 MiB", cat(member, make([]byte, 3*mib+5)), ""},
		{"garbage", cat(member, []byte("garbage\n")), "trailing garbage at byte " + itoa(m) + ", after gzip member 1"},
		{"one byte of a magic", cat(member, []byte{0x1f}), "trailing garbage at byte " + itoa(m) + ", after gzip member 1"},
		{"zeros then garbage", cat(member, make([]byte, 70000), []byte{7}),
			"trailing garbage at byte " + itoa(m+70000) + ", after 70000 zero bytes that follow gzip member 1"},
		{"zeros then a member", cat(member, make([]byte, 512), half), "after 512 zero bytes that follow gzip member 1"},
		{"garbage after the second member", cat(half, rest, []byte("PK\x03\x04")), "after gzip member 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "disk.raw.gz")
			if err := os.WriteFile(p, tc.file, 0o644); err != nil {
				t.Fatal(err)
			}
			srv := fileServer(t, p, nil)
			tg := garbageTarget(t, filepath.Join(dir, "disk"), size)
			_, err := Install(testCtx(t), fast(Options{URL: srv.URL, Type: "raw"}), tg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Install(%s) = %v, want success", tc.name, err)
				}
				sameContent(t, tg.Name(), rawPath, size)
				return
			}
			e := failure(t, err)
			if e == nil || e.Kind != KindCorruptStream || e.Step != boot.StepCheck || e.Compression != "gzip" || !strings.Contains(e.Reason, tc.want) {
				t.Fatalf("Install(%s) = %#v, want a corrupt gzip stream error containing %q", tc.name, err, tc.want)
			}
			// The image ends with 512 KiB of data: the piece decoded
			// together with the garbage is not written.
			got := make([]byte, 4096)
			if _, err := tg.f.ReadAt(got, size-4096); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, raw[size-4096:]) {
				t.Errorf("Install(%s) wrote the image's last piece before refusing the trailing data", tc.name)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
