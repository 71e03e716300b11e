package image

import (
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/byoi/byoi/initramfs/image/lzma2"
)

// sniffSize is how much of the start of an image detection looks at (the
// ISO 9660 descriptor sits at 32 KiB).
const sniffSize = 64 << 10

// maxZstdWindow is the largest zstd window accepted: images compressed with
// larger windows are refused rather than allowed to grow the installer's
// memory (maxXZDict is xz's limit).
const maxZstdWindow = 64 << 20

// compression returns "gzip", "xz", "zstd" or "" from a file's first bytes.
func compression(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip"
	case hasXZMagic(head):
		return "xz"
	case isZstd(head):
		return "zstd"
	}
	return ""
}

// zstdMagic starts a zstd frame; a skippable frame starts with 0x50-0x5f
// and then zstdSkippable.
var (
	zstdMagic     = []byte{0x28, 0xb5, 0x2f, 0xfd}
	zstdSkippable = []byte{0x2a, 0x4d, 0x18}
)

// isZstd reports whether head starts a zstd file: a zstd frame, possibly
// after skippable frames (pzstd starts every frame with one that gives
// its size). Skippable frames are followed through head; one that runs
// past it is taken as zstd, which the decoder then confirms or refuses.
func isZstd(head []byte) bool {
	for {
		if bytes.HasPrefix(head, zstdMagic) {
			return true
		}
		if len(head) < 8 || head[0]&0xf0 != 0x50 || !bytes.Equal(head[1:4], zstdSkippable) {
			return false
		}
		n := uint64(head[4]) | uint64(head[5])<<8 | uint64(head[6])<<16 | uint64(head[7])<<24
		if n >= uint64(len(head)-8) {
			return true
		}
		head = head[8+n:]
	}
}

// decompress wraps r with the decoder for kind; threads is how many xz
// blocks may be decoded at once; hist, if not nil, reads decoded bytes back
// (xz keeps less of its dictionary in memory).
func decompress(kind string, r io.Reader, threads int, hist lzma2.History) (io.ReadCloser, error) {
	switch kind {
	case "gzip":
		z, err := newGzipStream(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return z, nil
	case "xz":
		z, err := newXZReader(r, threads)
		if err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
		z.hist = hist
		return z, nil
	case "zstd":
		// Concurrency 1 is the decoder's synchronous path, which decodes
		// in the caller's Read: with the download on its own goroutine
		// (readAhead), a 1 GiB raw.zst over HTTP took 0.61-0.79 s with
		// it, 0.69-0.71 s with 2, whose hand-offs between goroutines
		// cost more CPU than they save on 2 cores (make bench P1:
		// 1.25x against 0.93x of curl+zstd|dd). Peak RSS 23.9 against 26.7 MiB.
		// rleAsRaw: the decoder fills RLE blocks (runs of zeros) a byte at a time.
		z, err := zstd.NewReader(newRLEAsRaw(r), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return z.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// isQcow2 reports whether head starts with the qcow2 magic.
func isQcow2(head []byte) bool { return bytes.HasPrefix(head, []byte("QFI\xfb")) }

// hasPartitionTable reports whether a raw image starts with an MBR boot
// signature or a GPT header (512- or 4096-byte sectors).
func hasPartitionTable(head []byte) bool {
	if len(head) >= 520 && string(head[512:520]) == "EFI PART" {
		return true
	}
	if len(head) >= 4104 && string(head[4096:4104]) == "EFI PART" {
		return true
	}
	return len(head) >= 512 && head[510] == 0x55 && head[511] == 0xaa
}

// signature is a magic string at an offset, naming what it belongs to.
type signature struct {
	off  int
	ma   string
	what string
}

var signatures = []signature{
	{0, "QFI\xfb", "QEMU QCOW2 image"},
	{0, "XFSB", "XFS filesystem"},
	{0, "LUKS\xba\xbe", "LUKS encrypted volume"},
	{0, "KDMV", "VMware VMDK image"},
	{0, "vhdxfile", "Microsoft VHDX image"},
	{0, "conectix", "Microsoft VHD image"},
	{0, "<<< Oracle VM VirtualBox Disk Image >>>", "VirtualBox VDI image"},
	{0, "\x7fELF", "ELF executable"},
	{0, "PK\x03\x04", "Zip archive"},
	{257, "ustar", "tar archive"},
	{1080, "\x53\xef", "Linux ext2/ext3/ext4 filesystem"},
	{0x10040, "_BHRfS_M", "BTRFS filesystem"},
	{3, "NTFS    ", "NTFS filesystem"},
	{82, "FAT32   ", "FAT32 filesystem"},
	{54, "FAT1", "FAT filesystem"},
	{4086, "SWAPSPACE2", "Linux swap"},
	{32769, "CD001", "ISO 9660 CD-ROM filesystem"},
	{0x10000, "ReIsEr", "ReiserFS filesystem"},
}

// describe names what a raw image without a partition table seems to hold,
// for OVH's "It seems to contain: x" message.
func describe(head []byte, compressedWith string) string {
	what := ""
	for _, s := range signatures {
		if len(head) >= s.off+len(s.ma) && string(head[s.off:s.off+len(s.ma)]) == s.ma {
			what = s.what
			break
		}
	}
	if what == "" {
		switch {
		case len(head) == 0:
			what = "empty"
		case bytes.Count(head, []byte{0}) == len(head):
			what = "data (all zeros)"
		case isText(head):
			what = "text"
		default:
			what = "data"
		}
	}
	if compressedWith != "" {
		what += ", " + compressedWith + " compressed"
	}
	return what
}

func isText(b []byte) bool {
	b = b[:min(len(b), 512)]
	for _, c := range b {
		if c < 0x09 || (c > 0x0d && c < 0x20) || c == 0x7f {
			return false
		}
	}
	return true
}
