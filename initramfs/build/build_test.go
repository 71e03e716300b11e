package build

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

// elfWithModinfo returns a minimal ELF64 file whose only section besides
// the string table is .modinfo holding the given key=value pairs.
func elfWithModinfo(kv ...string) []byte {
	modinfo := []byte(strings.Join(kv, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	const ehsize, shentsize = 64, 64
	modOff := uint64(ehsize)
	strOff := modOff + uint64(len(modinfo))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0})
	b.Write(make([]byte, 8))
	le := binary.LittleEndian
	for _, v := range []any{uint16(1), uint16(62), uint32(1), uint64(0), uint64(0), shOff,
		uint32(0), uint16(ehsize), uint16(0), uint16(0), uint16(shentsize), uint16(3), uint16(2)} {
		binary.Write(&b, le, v)
	}
	b.Write(modinfo)
	b.Write(shstr)
	b.Write(make([]byte, int(shOff)-b.Len()))
	section := func(name, typ uint32, off, size uint64) {
		for _, v := range []any{name, typ, uint64(0), uint64(0), off, size, uint32(0), uint32(0), uint64(1), uint64(0)} {
			binary.Write(&b, le, v)
		}
	}
	section(0, 0, 0, 0)
	section(1, 1, modOff, uint64(len(modinfo))) // PROGBITS
	section(10, 3, strOff, uint64(len(shstr)))  // STRTAB
	return b.Bytes()
}

// fakeKernel writes a modules folder for release "6.1.0-test-amd64".
func fakeKernel(t *testing.T) (modules, firmware string) {
	t.Helper()
	root := t.TempDir()
	modules = filepath.Join(root, "lib/modules/6.1.0-test-amd64")
	firmware = filepath.Join(root, "lib/firmware")
	files := map[string][]byte{
		"kernel/drivers/virtio/virtio_ring.ko":         elfWithModinfo("license=GPL", "name=virtio_ring"),
		"kernel/drivers/virtio/virtio.ko":              elfWithModinfo("license=GPL", "depends=virtio_ring"),
		"kernel/drivers/net/virtio_net.ko":             elfWithModinfo("alias=virtio:d00000001v*", "depends=virtio,virtio_ring"),
		"kernel/drivers/net/ethernet/intel/ice/ice.ko": elfWithModinfo("firmware=intel/ice/ddp/ice.pkg", "firmware=intel/ice/missing.bin"),
		"kernel/drivers/scsi/unused.ko":                elfWithModinfo("license=GPL"),
		"modules.dep": []byte(`kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/ethernet/intel/ice/ice.ko:
kernel/drivers/scsi/unused.ko:
`),
		"modules.alias":   []byte("# Aliases\nalias virtio:d00000001v* virtio_net\nalias pci:v00008086d00001591sv*sd*bc*sc*i* ice\nalias scsi:t-0x00 unused\n"),
		"modules.builtin": []byte("kernel/drivers/block/virtio_blk.ko\n"),
	}
	for name, b := range files {
		p := filepath.Join(modules, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(firmware, "intel/ice/ddp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(firmware, "intel/ice/ddp/ice.pkg"), []byte("ddp package"), 0o644); err != nil {
		t.Fatal(err)
	}
	return modules, firmware
}

// readArchive decompresses and parses a built initramfs.
func readArchive(t *testing.T, p, compression string) map[string]cpio.Record {
	t.Helper()
	f, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = bytes.NewReader(f)
	switch compression {
	case Gzip, "":
		if r, err = gzip.NewReader(r); err != nil {
			t.Fatalf("gzip: %v", err)
		}
	case Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompress %s: %v", compression, err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("read cpio: %v", err)
	}
	out := map[string]cpio.Record{}
	for _, r := range recs {
		out[r.Name] = r
	}
	return out
}

func content(t *testing.T, r cpio.Record) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatalf("read %s: %v", r.Name, err)
	}
	return string(b)
}

func sortedNames(m map[string]cpio.Record) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func sortStrings(s []string) []string {
	sort.Strings(s)
	return s
}
