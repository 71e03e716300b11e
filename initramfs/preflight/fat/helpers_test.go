package fat

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/byoi/byoi/initramfs/internal/testfs"
)

// integration reports whether missing tools must fail tests (make test sets
// BYOI_INTEGRATION=1) instead of skipping them.
func integration() bool { return testfs.Integration() }

func needTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testfs.NeedTool(t, tool)
	}
}

var run = testfs.Run

// image describes a FAT volume to build with mkfs.fat and mtools.
type image struct {
	fatType    int               // 12, 16, 32
	sectorSize int               // 0: mkfs.fat's default (512)
	size       int64             // bytes
	dirs       []string          // (empty) directories to create
	files      map[string]string // path → content
}

// build makes the volume in a temp file and returns its path.
func (im image) build(t testing.TB) string {
	t.Helper()
	needTools(t, "mkfs.fat", "mmd", "mcopy")
	dir := t.TempDir()
	img := filepath.Join(dir, "fat.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, im.size); err != nil {
		t.Fatal(err)
	}
	args := []string{"-F", fmt.Sprint(im.fatType), "-i", "1234abcd"}
	if im.sectorSize != 0 {
		args = append(args, "-S", fmt.Sprint(im.sectorSize))
	}
	run(t, "mkfs.fat", append(args, img)...)
	for _, d := range im.dirs {
		if err := os.MkdirAll(filepath.Join(dir, "src", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, data := range im.files {
		if err := os.MkdirAll(filepath.Join(dir, "src", filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "src", p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	top, err := filepath.Glob(filepath.Join(dir, "src", "*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(top)
	if len(top) > 0 {
		run(t, "mcopy", append(append([]string{"-s", "-Q", "-i", img}, top...), "::/")...)
	}
	return img
}

// mtoolsTree lists every path of the volume as mtools sees it, directories
// with a trailing slash.
func mtoolsTree(t testing.TB, img string) []string {
	t.Helper()
	out := run(t, "mdir", "-i", img, "-b", "-/", "::")
	var paths []string
	for _, l := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "::"); ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	return paths
}

// walk lists every path of the volume through the package, in mtools' form.
func walk(t testing.TB, f *FS, dir string) []string {
	t.Helper()
	entries, err := f.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%q) = %v", dir, err)
	}
	var paths []string
	for _, e := range entries {
		p := strings.TrimSuffix(dir, "/") + "/" + e.Name
		if e.Dir {
			paths = append(paths, p+"/")
			paths = append(paths, walk(t, f, p)...)
		} else {
			paths = append(paths, p)
		}
	}
	return paths
}

func open(t testing.TB, img string) *FS {
	t.Helper()
	r, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	st, err := r.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(r, st.Size())
	if err != nil {
		t.Fatalf("Open(%s) = %v", img, err)
	}
	return f
}
