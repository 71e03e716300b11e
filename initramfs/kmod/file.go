package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxModule bounds a decompressed module (the largest Debian modules are a
// few MiB).
const maxModule = 256 << 20

// Compressed reports whether a module file is compressed (by its name, as
// the kernel's own tools decide).
func Compressed(p string) bool {
	return strings.HasSuffix(p, ".ko.xz") || strings.HasSuffix(p, ".ko.zst") || strings.HasSuffix(p, ".ko.gz")
}

// ReadFile returns the ELF bytes of a module file, decompressing
// .ko.xz, .ko.zst and .ko.gz.
func ReadFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(p, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", p, err)
		}
		r = xr
	case strings.HasSuffix(p, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", p, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(p, ".gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", p, err)
		}
		r = gr
	}
	b, err := io.ReadAll(io.LimitReader(r, maxModule+1))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", p, err)
	}
	if len(b) > maxModule {
		return nil, fmt.Errorf("module %s: larger than %d bytes", p, maxModule)
	}
	return b, nil
}

// ModInfo returns the key=value pairs of a module's .modinfo section (what
// modinfo prints), values of repeated keys in order.
func ModInfo(module []byte) (map[string][]string, error) {
	f, err := elf.NewFile(bytes.NewReader(module))
	if err != nil {
		return nil, fmt.Errorf("modinfo: %w", err)
	}
	s := f.Section(".modinfo")
	if s == nil {
		return map[string][]string{}, nil
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("modinfo: %w", err)
	}
	out := map[string][]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if ok && k != "" {
			out[k] = append(out[k], v)
		}
	}
	return out, nil
}

// Firmware returns the firmware files a module declares, sorted, each once.
func Firmware(module []byte) ([]string, error) {
	info, err := ModInfo(module)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, fw := range info["firmware"] {
		if fw != "" && !seen[fw] {
			seen[fw] = true
			out = append(out, fw)
		}
	}
	sort.Strings(out)
	return out, nil
}
