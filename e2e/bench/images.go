package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// genVersion changes when the generator does, so cached images are rebuilt.
// g2: empty MiBs of sparse images are written as zeros, not left as
// holes, so that a local copy reads like the downloaded file.
const genVersion = "g2"

const (
	mib = 1 << 20
	gib = 1 << 30
)

// imageSpec describes a generated raw disk image.
type imageSpec struct {
	size  int64
	dense bool // every MiB holds data; sparse: one MiB in eight does
}

func (s imageSpec) name() string {
	kind := "sparse"
	if s.dense {
		kind = "dense"
	}
	return fmt.Sprintf("%s-%s", sizeName(s.size), kind)
}

func sizeName(n int64) string {
	if n >= gib && n%gib == 0 {
		return fmt.Sprintf("%dG", n/gib)
	}
	return fmt.Sprintf("%dM", n/mib)
}

// images creates and caches test images in a work directory.
type images struct {
	dir     string
	sums    map[string]string // path → sha256, computed once per run
	prepare bool              // generate only: the parts measure nothing
}

// file returns the image of raw in format ("qcow2" or "raw") with comp
// (qcow2: none, zlib, zstd; raw: none, gzip, zstd, xz).
func (im images) file(raw, format, comp string) (string, error) {
	switch {
	case format == "qcow2":
		return im.qcow2(raw, comp)
	case comp == "none":
		return raw, nil
	}
	return im.compressed(raw, comp)
}

// sha256 returns the hex sha256 of a file, computed once.
// warm reads path once so that the page cache holds it: every timed run
// then reads the image from memory, whichever side goes first. (The slow
// first runs seen on 2026-12-03 were mostly something else: the first
// writes into memory the VM had not touched cost 7-8 s of system time per
// GiB; see docs/performance.md.)
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func (im images) sha256(path string) (string, error) {
	if s, ok := im.sums[path]; ok {
		return s, nil
	}
	s, err := fileSHA256(path)
	if err == nil {
		im.sums[path] = s
	}
	return s, err
}

// raw returns the path of the raw image for s, generating it if needed.
// Every byte is written (no holes: a downloaded image has none, and
// qemu-img would skip holes of a local file unread). The data is deterministic and compresses like a typical OS image: a third
// of each data MiB is random (already compressed files), the rest is text
// made of repeated words.
func (im images) raw(s imageSpec) (string, error) {
	path := filepath.Join(im.dir, fmt.Sprintf("%s-%s.raw", s.name(), genVersion))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	t0 := time.Now()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", fmt.Errorf("create image: %w", err)
	}
	defer os.Remove(tmp)
	if err := f.Truncate(s.size); err != nil {
		f.Close()
		return "", fmt.Errorf("size image: %w", err)
	}
	rng := rand.New(rand.NewChaCha8([32]byte{'b', 'y', 'o', 'i', byte(s.size >> 30), boolByte(s.dense)}))
	corpus := textCorpus(rng)
	buf := make([]byte, mib)
	zeros := make([]byte, mib)
	for off := int64(0); off < s.size; off += mib {
		if !s.dense && off != 0 && rng.IntN(8) != 0 {
			if _, err := f.WriteAt(zeros, off); err != nil {
				f.Close()
				return "", fmt.Errorf("write image: %w", err)
			}
			continue
		}
		fillData(rng, corpus, buf)
		if off == 0 {
			copy(buf, mbr())
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			f.Close()
			return "", fmt.Errorf("write image: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write image: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", err
	}
	logf("generated %s in %.1f s", filepath.Base(path), time.Since(t0).Seconds())
	return path, nil
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// textCorpus is 1 MiB of random words separated by spaces and newlines.
func textCorpus(rng *rand.Rand) []byte {
	words := make([]string, 2000)
	for i := range words {
		w := make([]byte, 2+rng.IntN(9))
		for j := range w {
			w[j] = 'a' + byte(rng.IntN(26))
		}
		words[i] = string(w)
	}
	var b bytes.Buffer
	for b.Len() < mib {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(12) == 0 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:mib]
}

// fillData fills buf with 64 KiB chunks: one in three random, the others
// text copied from the corpus in runs of 64 to 1024 bytes.
func fillData(rng *rand.Rand, corpus, buf []byte) {
	for c := 0; c < len(buf); c += 64 << 10 {
		chunk := buf[c:min(c+64<<10, len(buf))]
		if rng.IntN(3) == 0 {
			for i := 0; i < len(chunk); i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8 && i+j < len(chunk); j++ {
					chunk[i+j] = byte(v >> (8 * j))
				}
			}
			continue
		}
		for i := 0; i < len(chunk); {
			n := min(64+rng.IntN(961), len(chunk)-i)
			at := rng.IntN(len(corpus) - n)
			i += copy(chunk[i:i+n], corpus[at:at+n])
		}
	}
}

// mbr is a minimal MBR: one Linux partition and the boot signature, so
// byoi's raw format check accepts the image.
func mbr() []byte {
	b := make([]byte, 512)
	p := b[446:]
	p[4] = 0x83 // Linux
	p[8] = 0x00
	p[9] = 0x08 // first LBA 2048
	p[12] = 0xff
	p[13] = 0xff // a few sectors; the content is not read
	b[510], b[511] = 0x55, 0xaa
	return b
}

// qcow2 converts a raw image to qcow2 with qemu-img; comp is "none", "zlib"
// or "zstd". Zero clusters stay unallocated, as qemu-img leaves them.
func (im images) qcow2(raw, comp string) (string, error) {
	path := strings.TrimSuffix(raw, ".raw") + "-" + comp + ".qcow2"
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	args := []string{"convert", "-f", "raw", "-O", "qcow2"}
	if comp != "none" {
		args = append(args, "-c", "-o", "compression_type="+comp)
	}
	args = append(args, raw, path+".tmp")
	return path, im.make(path, "qemu-img", args...)
}

// compressed compresses a raw image with gzip, zstd or xz (fast levels, so
// the benchmark stays within its time budget; the decoders' speed barely
// depends on the level). xz -T0 writes blocks with their sizes in the
// headers, which both byoi and xz -T decode in parallel.
func (im images) compressed(raw, kind string) (string, error) {
	switch kind {
	case "gzip":
		return im.compressedWith(raw, ".gz", "gzip", "-1")
	case "zstd":
		return im.compressedWith(raw, ".zst", "zstd", "-q", "-3", "-T0")
	case "xz":
		return im.compressedWith(raw, ".xz", "xz", "-1", "-T0")
	}
	return "", fmt.Errorf("unknown compression %q", kind)
}

// compressedWith runs tool args -c < raw > raw+ext (cached).
func (im images) compressedWith(raw, ext, tool string, args ...string) (string, error) {
	path := raw + ext
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cmd := fmt.Sprintf("%s %s -c < '%s' > '%s.tmp'", tool, strings.Join(args, " "), raw, path)
	return path, im.make(path, "sh", "-c", cmd)
}

// make runs a tool that writes path+".tmp", then renames it into place.
func (im images) make(path, tool string, args ...string) error {
	t0 := time.Now()
	out, err := exec.Command(tool, args...).CombinedOutput()
	if err != nil {
		os.Remove(path + ".tmp")
		return fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, out)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	logf("generated %s in %.1f s", filepath.Base(path), time.Since(t0).Seconds())
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "   "+format+"\n", args...)
}
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func density(s imageSpec) string {
	if s.dense {
		return "dense"
	}
	return "sparse"
}
