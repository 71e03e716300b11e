package imagefs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// part is one used partition of the image's table.
type part struct {
	num         int
	start, size int64 // bytes
	gptType     [16]byte
	mbrType     byte
}

// describe says what a partition holds, for the refusal message.
func (p part) describe(r io.ReaderAt) string {
	what := "unknown content"
	if info, err := detect(io.NewSectionReader(r, p.start, p.size)); err == nil && info.name != "" {
		what = info.name
	} else if p.gptType == biosBootGUID {
		what = "BIOS boot"
	}
	return fmt.Sprintf("%d: %d MiB, %s", p.num, p.size>>20, what)
}

// biosBootGUID is GPT type 21686148-6449-6E6F-744E-656564454649 on disk.
var biosBootGUID = [16]byte{0x48, 0x61, 0x68, 0x21, 0x49, 0x64, 0x6f, 0x6e, 0x74, 0x4e, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49}

// partitions returns the used partitions and the table type ("gpt",
// "mbr"), or no table ("") when the disk has no MBR signature, or an MBR
// without entries in front of a file system.
func partitions(r io.ReaderAt, size int64) ([]part, string, error) {
	mbr := make([]byte, 512)
	if n, err := r.ReadAt(mbr, 0); n < len(mbr) {
		if err == nil || err == io.EOF {
			return nil, "", refused("image provided is too small (%d bytes) to hold a file system", size)
		}
		return nil, "", fmt.Errorf("read the image's first sector: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return nil, "", nil
	}
	var parts []part
	protective := false
	for i := range 4 {
		e := mbr[446+16*i:]
		typ := e[4]
		start, n := int64(binary.LittleEndian.Uint32(e[8:])), int64(binary.LittleEndian.Uint32(e[12:]))
		if typ == 0 || n == 0 {
			continue
		}
		switch typ {
		case 0xee:
			protective = true
			continue
		case 0x05, 0x0f, 0x85:
			return nil, "", refused("image provided has an extended MBR partition (%d): a BYOLinux image must hold exactly one partition", i+1)
		}
		if start == 0 || (start+n)*512 > size {
			return nil, "", refused("image provided has an MBR partition %d beyond the end of the disk (sectors %d+%d of %d)", i+1, start, n, size/512)
		}
		parts = append(parts, part{num: i + 1, start: start * 512, size: n * 512, mbrType: typ})
	}
	if protective {
		for _, ss := range []int64{512, 4096} {
			gpt, ok, err := readGPT(r, size, ss)
			if err != nil || ok {
				return gpt, "gpt", err
			}
		}
		return nil, "", refused("image provided has a protective MBR but no valid GPT header")
	}
	if len(parts) == 0 {
		if info, err := detect(r); err == nil && info.name != "" {
			return nil, "", nil // boot code in front of a bare file system
		}
	}
	return parts, "mbr", nil
}

// readGPT reads the primary GPT with sectors of ss bytes; ok is false when
// there is no header there.
func readGPT(r io.ReaderAt, size, ss int64) ([]part, bool, error) {
	h := make([]byte, ss)
	if n, err := r.ReadAt(h, ss); n < len(h) {
		if err == nil || err == io.EOF {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read GPT header: %w", err)
	}
	if !bytes.Equal(h[:8], []byte("EFI PART")) {
		return nil, false, nil
	}
	hsize := binary.LittleEndian.Uint32(h[12:])
	if hsize < 92 || int64(hsize) > ss {
		return nil, true, refused("image provided has a corrupt GPT header (size %d)", hsize)
	}
	crc := binary.LittleEndian.Uint32(h[16:])
	hdr := append([]byte(nil), h[:hsize]...)
	clear(hdr[16:20])
	if crc32.ChecksumIEEE(hdr) != crc {
		return nil, true, refused("image provided has a corrupt GPT header (bad CRC)")
	}
	lba := int64(binary.LittleEndian.Uint64(h[72:]))
	count, esize := binary.LittleEndian.Uint32(h[80:]), binary.LittleEndian.Uint32(h[84:])
	if esize < 128 || esize > 4096 || esize%8 != 0 || count > 1024 || lba < 2 || lba > size/ss {
		return nil, true, refused("image provided has a corrupt GPT header (entries: %d of %d bytes at LBA %d)", count, esize, lba)
	}
	entries := make([]byte, int64(count)*int64(esize))
	if n, err := r.ReadAt(entries, lba*ss); n < len(entries) {
		if err == nil || err == io.EOF {
			return nil, true, refused("image provided has GPT entries beyond its end")
		}
		return nil, true, fmt.Errorf("read GPT entries: %w", err)
	}
	if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(h[88:]) {
		return nil, true, refused("image provided has corrupt GPT entries (bad CRC)")
	}
	var parts []part
	for i := range int(count) {
		e := entries[i*int(esize):]
		var typ [16]byte
		copy(typ[:], e[:16])
		if typ == [16]byte{} {
			continue
		}
		first, last := int64(binary.LittleEndian.Uint64(e[32:])), int64(binary.LittleEndian.Uint64(e[40:]))
		if first < 1 || last < first || (last+1) > size/ss {
			return nil, true, refused("image provided has GPT partition %d outside the disk (LBA %d-%d)", i+1, first, last)
		}
		parts = append(parts, part{num: i + 1, start: first * ss, size: (last - first + 1) * ss, gptType: typ})
	}
	return parts, true, nil
}
