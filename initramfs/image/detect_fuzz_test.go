package image

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// maxDecoded bounds how much FuzzDetect decodes from a fuzzed stream: a
// tiny input may claim gigabytes.
const maxDecoded = 4 << 20

// compressBytes compresses data with kind's encoder (zst, made once, is
// reused: creating a zstd encoder costs more than encoding a small input).
func compressBytes(t testing.TB, zst *zstd.Encoder, kind string, data []byte) []byte {
	t.Helper()
	if kind == "zstd" {
		return zst.EncodeAll(data, nil)
	}
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch kind {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "xz":
		w, err = xz.WriterConfig{DictCap: 1 << 16}.NewWriter(&buf)
	}
	if err != nil {
		t.Fatalf("%s writer: %v", kind, err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("%s write: %v", kind, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s close: %v", kind, err)
	}
	return buf.Bytes()
}

// FuzzDetect drives the detection of an image's first bytes: compression
// sniffing, the qcow2 magic, partition tables, the "It seems to contain"
// description and the decoders, which must fail cleanly (never panic or
// grow without bound) on hostile streams. Every input is also compressed
// with each supported format and must be detected as that format and decode
// back to itself.
func FuzzDetect(f *testing.F) {
	zst, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<16))
	if err != nil {
		f.Fatal(err)
	}
	mbr := make([]byte, 512)
	mbr[510], mbr[511] = 0x55, 0xaa
	gpt := make([]byte, 1024)
	copy(gpt[512:], "EFI PART")
	for _, seed := range [][]byte{
		nil, {0}, mbr, gpt, []byte("QFI\xfb\x00\x00\x00\x03"), []byte("#!/bin/sh\necho not an image\n"),
		{0x1f, 0x8b}, {0xfd, '7', 'z', 'X', 'Z', 0}, {0x28, 0xb5, 0x2f, 0xfd},
		compressBytes(f, zst, "gzip", mbr), compressBytes(f, zst, "xz", gpt), compressBytes(f, zst, "zstd", []byte("QFI\xfb")),
		// A zstd frame header announcing a 2 GiB window.
		{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa8},
		// pzstd: a skippable frame giving the size of the frame after it.
		append(skippable(0, []byte{9, 0, 0, 0}), compressBytes(f, zst, "zstd", mbr)...),
		// gzip followed by zero padding, and by garbage.
		append(compressBytes(f, zst, "gzip", mbr), 0, 0, 0),
		append(compressBytes(f, zst, "gzip", mbr), 0, 'x'),
	} {
		f.Add(seed)
	}
	kinds := map[string]string{"gzip": "\x1f\x8b", "xz": "\xfd7zXZ\x00", "zstd": "\x28\xb5\x2f\xfd"}
	f.Fuzz(func(t *testing.T, head []byte) {
		kind := compression(head)
		if magic, ok := kinds[kind]; kind != "" && (!ok || !bytes.HasPrefix(head, []byte(magic))) &&
			!(kind == "zstd" && head[0]&0xf0 == 0x50 && bytes.HasPrefix(head[1:], zstdSkippable)) {
			t.Fatalf("compression(%q) = %q without its magic", head[:min(len(head), 8)], kind)
		}
		if isQcow2(head) && kind != "" {
			t.Fatalf("compression(%q) = %q for a qcow2 header", head[:8], kind)
		}
		if got := describe(head, kind); got == "" || (kind != "" && !strings.HasSuffix(got, ", "+kind+" compressed")) {
			t.Fatalf("describe(%.16q, %q) = %q", head, kind, got)
		}
		hasPartitionTable(head)
		if kind != "" {
			if dec, err := decompress(kind, bytes.NewReader(head), 2, nil); err == nil {
				io.Copy(io.Discard, io.LimitReader(dec, maxDecoded)) // errors are expected; panics are not
				dec.Close()
			}
		}
		if len(head) > 64<<10 {
			return
		}
		for k := range kinds {
			z := compressBytes(t, zst, k, head)
			if got := compression(z); got != k {
				t.Fatalf("compression(%s of %d bytes) = %q, want %q", k, len(head), got, k)
			}
			dec, err := decompress(k, bytes.NewReader(z), 2, nil)
			if err != nil {
				t.Fatalf("decompress(%s) = %v", k, err)
			}
			back, err := io.ReadAll(dec)
			dec.Close()
			if err != nil || !bytes.Equal(back, head) {
				t.Fatalf("decompress(%s(x)) = %d bytes, %v; want the %d input bytes", k, len(back), err, len(head))
			}
			if got := describe(head, k); !strings.HasSuffix(got, ", "+k+" compressed") {
				t.Fatalf("describe(x, %q) = %q", k, got)
			}
		}
	})
}
