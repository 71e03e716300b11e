package fat

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// espFiles is a typical EFI system partition plus names that exercise long
// names, lower-case short names and a directory spanning several clusters.
func espFiles() image {
	files := map[string]string{
		"/EFI/debian/shimx64.efi":          "shim",
		"/EFI/debian/grubx64.efi":          "grub",
		"/EFI/debian/grub.cfg":             "search.fs_uuid x root\n",
		"/EFI/BOOT/BOOTX64.EFI":            "shim",
		"/EFI/Microsoft/Boot/bootmgfw.efi": "bootmgr",
		"/EFI/systemd/systemd-bootx64.efi": "sd-boot",
		"/loader/entries/a very long entry name that needs several LFN slots.conf": "title x\n",
		"/Ünïcödé directory/naïve loader.efi":                                      "utf16",
	}
	for i := range 150 { // ~150 long names: the directory needs several clusters
		files[fmt.Sprintf("/many/file number %03d with a long name.txt", i)] = fmt.Sprint(i)
	}
	return image{dirs: []string{"/EFI", "/EFI/debian", "/EFI/BOOT", "/EFI/Microsoft", "/EFI/Microsoft/Boot",
		"/EFI/systemd", "/loader", "/loader/entries", "/many", "/empty dir"}, files: files}
}

// TestTreeMatchesMtools reads volumes made by mkfs.fat and mtools and
// compares every path with what mtools lists (the oracle).
func TestTreeMatchesMtools(t *testing.T) {
	tests := []struct {
		name       string
		fatType    int
		sectorSize int
		size       int64
	}{
		{"FAT12", 12, 0, 4 << 20},
		{"FAT16", 16, 0, 32 << 20},
		{"FAT32", 32, 0, 64 << 20},
		{"FAT32 4096-byte sectors", 32, 4096, 300 << 20},
		{"FAT16 4096-byte sectors", 16, 4096, 64 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im := espFiles()
			im.fatType, im.sectorSize, im.size = tc.fatType, tc.sectorSize, tc.size
			img := im.build(t)
			f := open(t, img)
			if f.Type != tc.fatType {
				t.Errorf("Open(%s).Type = %d, want %d", tc.name, f.Type, tc.fatType)
			}
			got := walk(t, f, "/")
			sort.Strings(got)
			if diff := cmp.Diff(mtoolsTree(t, img), got); diff != "" {
				t.Errorf("tree mismatch (-mtools +fat):\n%s", diff)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	im := espFiles()
	im.fatType, im.size = 32, 64<<20
	f := open(t, im.build(t))
	tests := []struct {
		path     string
		wantName string
		wantDir  bool
		wantSize uint32
		wantErr  error
	}{
		{`\EFI\debian\grubx64.efi`, "grubx64.efi", false, 4, nil},
		{`\efi\DEBIAN\GRUBX64.EFI`, "grubx64.efi", false, 4, nil},
		{`/EFI/BOOT/bootx64.efi`, "BOOTX64.EFI", false, 4, nil},
		{`\efi\boot`, "BOOT", true, 0, nil},
		{`\EFI\Microsoft\Boot\BOOTMGFW.EFI`, "bootmgfw.efi", false, 7, nil},
		{`\EFI\debian\grubx64.efi\x`, "", false, 0, fs.ErrNotExist},
		{`\EFI\ubuntu\shimx64.efi`, "", false, 0, fs.ErrNotExist},
		{`\EFI\debian\mmx64.efi`, "", false, 0, fs.ErrNotExist},
		{`\`, `\`, true, 0, nil},
	}
	for _, tc := range tests {
		e, err := f.Lookup(tc.path)
		if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
			t.Errorf("Lookup(%q) error = %v, want %v", tc.path, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if e.Name != tc.wantName || e.Dir != tc.wantDir || e.Size != tc.wantSize {
			t.Errorf("Lookup(%q) = %q dir=%v size=%d, want %q dir=%v size=%d", tc.path, e.Name, e.Dir, e.Size, tc.wantName, tc.wantDir, tc.wantSize)
		}
	}
	// A file is found by its 8.3 alias too.
	long, err := f.Lookup(`\many\file number 042 with a long name.txt`)
	if err != nil || !strings.Contains(long.Short, "~") {
		t.Fatalf("Lookup(file number 042) = %+v, %v; want a long name with a ~ alias", long, err)
	}
	if e, err := f.Lookup(`\MANY\` + long.Short); err != nil || e != long {
		t.Errorf("Lookup(%q) = %+v, %v; want %+v", long.Short, e, err, long)
	}
}

// TestCorrupt damages volumes in the ways a hostile image could and checks
// that the reader reports ErrCorrupt (or ErrNotFAT) instead of looping,
// crashing or reading outside the volume.
func TestCorrupt(t *testing.T) {
	base := image{fatType: 32, size: 40 << 20, dirs: []string{"/EFI", "/EFI/BOOT"},
		files: map[string]string{"/EFI/BOOT/BOOTX64.EFI": "x"}}
	img := base.build(t)
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f := open(t, img)
	le32 := func(b []byte, off int64, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	root := f.rootClus
	fatOff := func(c uint32) int64 { return f.fatStart + int64(c)*4 }
	tests := []struct {
		name    string
		damage  func(b []byte)
		wantErr error
	}{
		{"no jump", func(b []byte) { b[0] = 0 }, ErrNotFAT},
		{"zero bytes per sector", func(b []byte) { b[11], b[12] = 0, 0 }, ErrNotFAT},
		{"3 sectors per cluster", func(b []byte) { b[13] = 3 }, ErrNotFAT},
		{"volume larger than partition", func(b []byte) { le32(b, 32, 1<<30) }, ErrCorrupt},
		{"FAT larger than volume", func(b []byte) { le32(b, 36, 1<<24) }, ErrCorrupt},
		{"root cluster outside", func(b []byte) { le32(b, 44, 0x0ffffff0) }, ErrCorrupt},
		{"root chain loops", func(b []byte) { le32(b, fatOff(root), root) }, ErrCorrupt},
		{"root chain leaves the volume", func(b []byte) { le32(b, fatOff(root), 0x0ffff000) }, ErrCorrupt},
		{"root chain hits a free cluster", func(b []byte) { le32(b, fatOff(root), 1) }, ErrCorrupt},
		{"active FAT out of range", func(b []byte) { b[40] = 0x80 | 5 }, ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), orig...)
			tc.damage(b)
			r := strings.NewReader(string(b))
			f, err := Open(r, int64(len(orig)))
			if err == nil {
				_, err = f.Lookup(`\EFI\BOOT\BOOTX64.EFI`)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Open+Lookup after %s = %v, want %v", tc.name, err, tc.wantErr)
			}
		})
	}
}

// TestReadsOnlyMetadata checks that a lookup reads the boot sector, FAT
// sectors and directory clusters only, never file data.
func TestReadsOnlyMetadata(t *testing.T) {
	big := strings.Repeat("data", 1<<18) // 1 MiB of file data
	im := image{fatType: 32, size: 64 << 20, dirs: []string{"/EFI", "/EFI/debian"},
		files: map[string]string{"/EFI/debian/grubx64.efi": big, "/EFI/debian/shimx64.efi": big}}
	img := im.build(t)
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingReader{b: data}
	f, err := Open(rec, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Lookup(`\EFI\debian\shimx64.efi`); err != nil {
		t.Fatal(err)
	}
	if rec.n > 64<<10 {
		t.Errorf("Lookup read %d bytes, want at most 64 KiB (metadata only)", rec.n)
	}
}

type recordingReader struct {
	b []byte
	n int
}

func (r *recordingReader) ReadAt(p []byte, off int64) (int, error) {
	r.n += len(p)
	return strings.NewReader(string(r.b)).ReadAt(p, off)
}
