package preflight

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lima-vm/go-qcow2reader"
)

// TestCompressedHead decompresses a gzip image into a bounded Head, as the
// installer does with a compressed stream, and checks through it: the
// checks pass when the head covers the ESP's metadata, and say NeedsMore,
// not something wrong with the image, when it does not.
func TestCompressedHead(t *testing.T) {
	img := readImage(t, cloudGPT.build(t))
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(img)
	w.Close()
	head := func(limit int64) Head {
		zr, err := gzip.NewReader(bytes.NewReader(gz.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(io.LimitReader(zr, limit))
		if err != nil {
			t.Fatal(err)
		}
		return Head{Data: data, Complete: int64(len(data)) == int64(len(img))}
	}
	cfg := Config{Firmware: UEFI, EFIBootloaderPath: `\EFI\debian\shimx64.efi`}
	res, err := Check(head(MaxHead), cfg)
	if err != nil || res.Loader != `\EFI\debian\shimx64.efi` {
		t.Fatalf("Check(32 MiB head) = %q, %v; want the loader found", res.Loader, err)
	}
	// The ESP starts at 4 MiB; a 2 MiB head does not reach it.
	_, err = Check(head(2<<20), cfg)
	if KindOf(err) != NeedsMore || !errors.Is(err, ErrBeyondHead) {
		t.Fatalf("Check(2 MiB head) = %v, want NeedsMore wrapping ErrBeyondHead", err)
	}
	// The whole image buffered: reads past its end are io.EOF, as for a file.
	full := head(int64(len(img)) + 1)
	if !full.Complete {
		t.Fatal("head of the whole image is not Complete")
	}
	if _, err := full.ReadAt(make([]byte, 10), int64(len(img))-5); err != io.EOF {
		t.Errorf("ReadAt past the end of a complete head = %v, want io.EOF", err)
	}
}

// TestQcow2 checks through a qcow2 image's virtual disk, the way the
// installer reads qcow2 (an io.ReaderAt through the L1/L2 map); here the
// map is go-qcow2reader's.
func TestQcow2(t *testing.T) {
	needTools(t, "qemu-img")
	raw := cloudGPT.build(t)
	q := filepath.Join(t.TempDir(), "disk.qcow2")
	run(t, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, q)
	f, err := os.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := qcow2reader.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	res, err := Check(img, Config{Firmware: UEFI, Size: img.Size()})
	if err != nil || res.Loader != `\EFI\debian\shimx64.efi` || !res.Picked {
		t.Fatalf("Check(qcow2) = %+v, %v; want shimx64.efi picked", res, err)
	}
}

func TestReadTable(t *testing.T) {
	img := readImage(t, cloudGPT.build(t))
	got, err := ReadTable(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	want := Table{Kind: TableGPT, SectorSize: 512, BootCode: true, Partitions: []Partition{
		{Number: 1, Start: 1 << 20, Size: 3 << 20, Type: GUIDBIOSBoot},
		{Number: 2, Start: 4 << 20, Size: 40 << 20, Type: GUIDESP},
		{Number: 3, Start: 44 << 20, Size: 8 << 20, Type: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"},
	}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(Partition{})); diff != "" {
		t.Errorf("ReadTable() mismatch (-want +got):\n%s", diff)
	}

	damage := []struct {
		name    string
		edit    func(b []byte)
		wantErr error
	}{
		{"header CRC", func(b []byte) { b[512+16] ^= 1 }, errBadTable},
		{"entries CRC", func(b []byte) { b[1024+32] ^= 1 }, errBadTable},
		{"protective MBR without GPT", func(b []byte) { copy(b[512:], "NOT PART") }, errBadTable},
		{"partition beyond the image", nil, errBadTable},
		{"nothing", func(b []byte) { clear(b[:2<<20]) }, errNoTable},
	}
	for _, tc := range damage {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(img)
			size := int64(len(b))
			if tc.edit != nil {
				tc.edit(b)
			} else {
				size = 40 << 20
			}
			_, err := ReadTable(bytes.NewReader(b), size)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("ReadTable(%s) = %v, want %v", tc.name, err, tc.wantErr)
			}
		})
	}
}
