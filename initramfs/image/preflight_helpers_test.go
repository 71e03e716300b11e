package image

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// bootPart is a partition of a test boot image, laid out from 1 MiB on.
type bootPart struct {
	typ   string   // sgdisk type code: ef00 (ESP), ef02 (BIOS boot), 8300
	mib   int      // size
	files []string // FAT16 file system holding these files (ef00 only); nil: none
	noise bool     // filled with random bytes
}

// bootImage builds a GPT image with sgdisk, mkfs.fat and mtools and
// returns its path; bootCode puts bytes in the MBR's boot code area.
func bootImage(t testing.TB, bootCode bool, parts ...bootPart) string {
	t.Helper()
	for _, tool := range []string{"sgdisk", "mkfs.fat", "mcopy"} {
		needTool(t, tool)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "boot.img")
	total := 2
	for _, p := range parts {
		total += p.mib
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(total) * mib); err != nil {
		t.Fatal(err)
	}
	args := []string{"-o"}
	start := 2048
	for i, p := range parts {
		n := p.mib * 2048
		args = append(args, "-n", fmt.Sprintf("%d:%d:%d", i+1, start, start+n-1), "-t", fmt.Sprintf("%d:%s", i+1, p.typ))
		start += n
	}
	run(t, "sgdisk", append(args, img)...)
	rng := rand.New(rand.NewPCG(uint64(total), 3))
	off := int64(mib)
	for i, p := range parts {
		switch {
		case p.files != nil:
			run(t, "mkfs.fat", "-F", "16", "-s", "1", "--offset", fmt.Sprint(off/512), img, fmt.Sprint(p.mib<<10))
			src := filepath.Join(dir, fmt.Sprintf("p%d", i+1))
			for _, name := range p.files {
				if err := os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(src, name), []byte("MZ loader "+name), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if len(p.files) > 0 {
				top, _ := filepath.Glob(filepath.Join(src, "*"))
				run(t, "mcopy", append(append([]string{"-s", "-Q", "-i", fmt.Sprintf("%s@@%d", img, off)}, top...), "::/")...)
			}
		case p.noise:
			b := make([]byte, p.mib*mib)
			fillRandom(b, rng.Uint64())
			if _, err := f.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		}
		off += int64(p.mib) * mib
	}
	if bootCode {
		if _, err := f.WriteAt([]byte{0xeb, 0x63, 0x90, 0xfa, 0x31, 0xc0}, 0); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// bootVariants makes the formats pre-flight reads differently: raw,
// qcow2 (plain and compressed clusters), gzip, xz and zstd.
func bootVariants(t testing.TB, raw string) map[string]string {
	t.Helper()
	qemuImg := needTool(t, "qemu-img")
	dir := filepath.Dir(raw)
	out := map[string]string{"raw": raw}
	for name, args := range map[string][]string{"qcow2": {"-o", "compat=1.1"}, "qcow2-zlib": {"-c", "-o", "compat=1.1"}} {
		p := filepath.Join(dir, name+".qcow2")
		run(t, qemuImg, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, p)...)
		out[name] = p
	}
	for _, kind := range []string{"gzip", "xz", "zstd"} {
		p := filepath.Join(dir, "raw."+kind)
		compressFile(t, raw, p, kind)
		out[kind] = p
	}
	return out
}

func imageType(variant string) string {
	if len(variant) >= 5 && variant[:5] == "qcow2" {
		return "qcow2"
	}
	return "raw"
}

// randomTarget makes a file target of size random bytes.
func randomTarget(t testing.TB, path string, size int64, seed uint64) *FileTarget {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := chacha8(seed)
	b := make([]byte, mib)
	for off := int64(0); off < size; off += mib {
		rng.Read(b)
		if _, err := f.WriteAt(b[:min(mib, size-off)], off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	tg, err := OpenTarget(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
