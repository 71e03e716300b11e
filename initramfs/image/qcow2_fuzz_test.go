package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	lib "github.com/lima-vm/go-qcow2reader/image/qcow2"
)

// memTarget is an in-memory Target for fuzzing: writes and zeroing outside
// its size fail, as they would on a disk.
type memTarget struct{ b []byte }

func (m *memTarget) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m.b)) || int64(len(p)) > int64(len(m.b))-off {
		return 0, fmt.Errorf("write of %d bytes at %d outside the %d-byte target", len(p), off, len(m.b))
	}
	return copy(m.b[off:], p), nil
}

func (m *memTarget) ZeroRange(off, n int64) error {
	if off < 0 || n < 0 || off > int64(len(m.b)) || n > int64(len(m.b))-off {
		return fmt.Errorf("zero of %d bytes at %d outside the %d-byte target", n, off, len(m.b))
	}
	clear(m.b[off : off+n])
	return nil
}

func (m *memTarget) Size() int64  { return int64(len(m.b)) }
func (m *memTarget) Name() string { return "mem" }
func (m *memTarget) Sync() error  { return nil }

// fuzzTargetSize bounds what a fuzzed image may expand to.
const fuzzTargetSize = 512 << 10

// qcow2Seeds makes small qcow2 images with qemu-img: cluster sizes of 512
// bytes and 4 KiB keep the tables (what the fuzzer should mutate) near the
// front of a file of a few KiB.
func qcow2Seeds(f *testing.F) [][]byte {
	qemuImg := needTool(f, "qemu-img")
	dir := f.TempDir()
	raw := filepath.Join(dir, "seed.raw")
	data := bytes.Repeat([]byte("byoi qcow2 fuzz seed "), 400) // ~8 KiB, compressible
	img := make([]byte, 192<<10)
	copy(img[4096:], data)
	copy(img[100<<10:], data[:3000])
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for i, args := range [][]string{
		{"-o", "cluster_size=512,compat=0.10"},
		{"-o", "cluster_size=512"},
		{"-c", "-o", "cluster_size=4096"},
		{"-c", "-o", "cluster_size=4096,compression_type=zstd"},
	} {
		out := filepath.Join(dir, fmt.Sprintf("seed%d.qcow2", i))
		run(f, qemuImg, append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...), raw, out)...)
		b, err := os.ReadFile(out)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzQcow2Install feeds qcow2 files to the installer's whole qcow2 path
// (header and table checks, byoi's L1/L2 walk, cluster decoding, the
// writer): it never panics, never writes outside the target, ends in
// bounded time with success or an *Error, and when it succeeds the target
// holds what go-qcow2reader reads from the same file.
func FuzzQcow2Install(f *testing.F) {
	for _, s := range qcow2Seeds(f) {
		f.Add(s)
	}
	libZstd()
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tg := &memTarget{b: bytes.Repeat([]byte{0xa5}, fuzzTargetSize)}
		res, err := InstallLocal(ctx, Options{Type: "qcow2"}, bytes.NewReader(b), int64(len(b)), tg)
		if ctx.Err() != nil {
			t.Fatalf("InstallLocal did not end within 10 s (err %v)", err)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Error() == "" {
				t.Fatalf("InstallLocal = %v (%T), want an *Error with a message", err, err)
			}
			return
		}
		img, lerr := lib.Open(bytes.NewReader(b), nil)
		if lerr != nil {
			return // byoi is not stricter than the library everywhere, nor must it be
		}
		want := make([]byte, res.VirtualSize)
		if n, rerr := img.ReadAt(want, 0); int64(n) != res.VirtualSize {
			_ = rerr // the library cannot read what byoi wrote: no oracle
			return
		}
		if !bytes.Equal(tg.b[:res.VirtualSize], want) {
			t.Fatalf("installed %d bytes differ from go-qcow2reader's reading of the same file", res.VirtualSize)
		}
	})
}
