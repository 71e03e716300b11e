package preflight

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// part is a partition of a test disk, laid out one after the other from
// 1 MiB.
type part struct {
	gptType string   // sgdisk type code, e.g. "ef00", "ef02", "8300"
	mbrType string   // sfdisk type, e.g. "ef", "c", "83"
	mib     int      // size
	fat     int      // 0: not formatted, else 12/16/32
	files   []string // files to create on the FAT, e.g. /EFI/BOOT/BOOTX64.EFI
}

// disk describes a test image.
type disk struct {
	table    string // "gpt", "mbr" or "" (none)
	bootCode bool   // non-zero bytes in the MBR's code area
	parts    []part
}

// build makes the image in a temp file with sgdisk/sfdisk, mkfs.fat and
// mtools and returns its path.
func (d disk) build(t testing.TB) string {
	t.Helper()
	needTools(t, "sgdisk", "sfdisk", "mkfs.fat", "mmd", "mcopy")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	total := 2
	for _, p := range d.parts {
		total += p.mib
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(total)<<20); err != nil {
		t.Fatal(err)
	}
	switch d.table {
	case "gpt":
		args := []string{"-o"}
		start := 2048
		for i, p := range d.parts {
			n := p.mib * 2048
			args = append(args, "-n", fmt.Sprintf("%d:%d:%d", i+1, start, start+n-1), "-t", fmt.Sprintf("%d:%s", i+1, p.gptType))
			start += n
		}
		run(t, "sgdisk", append(args, img)...)
	case "mbr":
		var script strings.Builder
		script.WriteString("label: dos\n")
		start := 2048
		for _, p := range d.parts {
			fmt.Fprintf(&script, "start=%d, size=%d, type=%s\n", start, p.mib*2048, p.mbrType)
			start += p.mib * 2048
		}
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader(script.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
	}
	off := int64(1 << 20)
	for i, p := range d.parts {
		if p.fat != 0 {
			run(t, "mkfs.fat", "-F", fmt.Sprint(p.fat), "--offset", fmt.Sprint(off/512), img, fmt.Sprint(p.mib<<10))
			// One mcopy for the whole tree, staged in a directory.
			src := filepath.Join(dir, fmt.Sprintf("part%d", i+1))
			for _, f := range p.files {
				if err := os.MkdirAll(filepath.Join(src, filepath.Dir(f)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(src, f), []byte("MZ not really a PE file"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if top, _ := filepath.Glob(filepath.Join(src, "*")); len(top) > 0 {
				run(t, "mcopy", append(append([]string{"-s", "-Q", "-i", fmt.Sprintf("%s@@%d", img, off)}, top...), "::/")...)
			}
		}
		off += int64(p.mib) << 20
	}
	if d.bootCode {
		f, err := os.OpenFile(img, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{0xeb, 0x63, 0x90, 0xfa, 0x31, 0xc0}, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return img
}

func readImage(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
