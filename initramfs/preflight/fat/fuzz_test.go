package fat

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// FuzzFAT opens arbitrary bytes as a FAT volume and walks every directory
// it can reach (with a depth and entry budget: a hostile volume can make
// directories point at their parents). Nothing may panic, hang or read
// outside the input; the seeds are volumes made by mkfs.fat and mtools.
func FuzzFAT(f *testing.F) {
	if _, err := exec.LookPath("mkfs.fat"); err == nil {
		for _, ft := range []int{12, 16, 32} {
			size := map[int]int64{12: 1 << 20, 16: 16 << 20, 32: 40 << 20}[ft]
			img := image{fatType: ft, size: size, dirs: []string{"/EFI", "/EFI/BOOT", "/EFI/debian"},
				files: map[string]string{"/EFI/BOOT/BOOTX64.EFI": "x", "/EFI/debian/a long file name.efi": "y"}}.build(f)
			b, err := os.ReadFile(img)
			if err != nil {
				f.Fatal(err)
			}
			// Only the metadata at the start matters; the rest is zeros.
			f.Add(bytes.TrimRight(b[:min(len(b), 1<<20)], "\x00"))
		}
	} else if integration() {
		f.Fatal("mkfs.fat not installed")
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		budget := 2000
		var visit func(path string, depth int)
		visit = func(path string, depth int) {
			entries, err := fs.ReadDir(path)
			if err != nil || depth > 6 {
				return
			}
			for _, e := range entries {
				if budget--; budget < 0 {
					return
				}
				// Whatever ReadDir lists, Lookup finds again by that name.
				if e.Name != "" && !strings.ContainsAny(e.Name, `\/`) {
					if _, err := fs.Lookup(path + `\` + e.Name); err != nil {
						t.Fatalf("ReadDir(%q) lists %q but Lookup fails: %v", path, e.Name, err)
					}
				}
				if e.Dir && !strings.ContainsAny(e.Name, `\/`) {
					visit(path+`\`+e.Name, depth+1)
				}
			}
		}
		visit(`\`, 0)
	})
}
