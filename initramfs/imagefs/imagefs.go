// Package imagefs looks inside a BYOLinux image's virtual disk before any
// disk of the machine is touched: it must hold exactly one partition (in
// an MBR or a GPT) or a bare file system, and that file system must be
// ext4 (ext2/ext3 too: the ext4 driver mounts them), XFS or a one-device
// Btrfs. Anything else is refused with a message that says what was found.
//
//	fs, err := imagefs.Inspect(virtualDisk, size)
//	// fs.Offset, fs.Size: the file system's bytes; fs.Type: "ext4", "xfs", "btrfs"
//	// err: *imagefs.RefusedError (the customer's image) or an I/O error
//
// After mounting (read-only, with MountOptions), NoSubvolumes refuses Btrfs
// file systems with subvolumes, which a file copy would flatten.
package imagefs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// FS is the file system found in an image.
type FS struct {
	// Table is "gpt", "mbr" or "" (a bare file system).
	Table string
	// Partition is the partition's number (1-based), 0 for a bare fs.
	Partition int
	// Offset and Size locate the file system's bytes in the virtual disk.
	Offset, Size int64
	// Type is "ext4", "xfs" or "btrfs".
	Type string
	// Label and UUID of the file system, when it has them.
	Label, UUID string
}

// String describes what was found, e.g. "ext4 in partition 1 of a GPT".
func (f FS) String() string {
	if f.Table == "" {
		return f.Type + " file system on the whole disk"
	}
	return fmt.Sprintf("%s in partition %d of a %s", f.Type, f.Partition, strings.ToUpper(f.Table))
}

// RefusedError says why an image is not a BYOLinux image. Its message is
// shown to the customer as is.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

func refused(format string, a ...any) error {
	return &RefusedError{Msg: fmt.Sprintf(format, a...)}
}

// IsRefused reports whether err is a *RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// MountOptions are the options that mount a file system of type fs without
// writing to it (no journal or log replay): the device is read-only.
func MountOptions(fs string) string {
	switch fs {
	case "ext4":
		return "noload"
	case "xfs":
		return "norecovery"
	case "btrfs":
		return "rescue=nologreplay"
	}
	return ""
}

// Inspect reads the partition table and the file system of the virtual
// disk r of size bytes.
func Inspect(r io.ReaderAt, size int64) (FS, error) {
	parts, table, err := partitions(r, size)
	if err != nil {
		return FS{}, err
	}
	fs := FS{Table: table}
	switch {
	case table == "":
		fs.Size = size
	case len(parts) == 0:
		return FS{}, refused("image provided has an empty %s partition table: a BYOLinux image must hold exactly one partition with an ext4, xfs or btrfs file system", strings.ToUpper(table))
	case len(parts) > 1:
		var list []string
		for _, p := range parts {
			list = append(list, p.describe(r))
		}
		return FS{}, refused("image provided has %d partitions (%s): a BYOLinux image must hold exactly one partition, or a bare file system, of type ext4, xfs or btrfs",
			len(parts), strings.Join(list, "; "))
	default:
		p := parts[0]
		fs.Partition, fs.Offset, fs.Size = p.num, p.start, p.size
	}
	typ, err := detect(io.NewSectionReader(r, fs.Offset, fs.Size))
	if err != nil {
		return FS{}, err
	}
	where := "the image"
	if fs.Table != "" {
		where = fmt.Sprintf("partition %d of the image", fs.Partition)
	}
	switch typ.name {
	case "ext4", "xfs", "btrfs":
	case "":
		return FS{}, refused("%s holds no file system byoi recognises: a BYOLinux image must hold ext4, xfs or btrfs", where)
	default:
		return FS{}, refused("%s holds %s: a BYOLinux image must hold ext4, xfs or btrfs", where, typ.name)
	}
	if typ.devices > 1 {
		return FS{}, refused("%s holds a btrfs file system spanning %d devices: only one-device btrfs is supported", where, typ.devices)
	}
	if typ.size > fs.Size {
		return FS{}, refused("%s holds a %s file system of %d bytes in %d bytes: the image is truncated", where, typ.name, typ.size, fs.Size)
	}
	fs.Type, fs.Label, fs.UUID = typ.name, typ.label, typ.uuid
	return fs, nil
}

// fsInfo is what detect learns from a superblock.
type fsInfo struct {
	name        string // "" when unknown
	label, uuid string
	size        int64 // bytes the file system says it spans, 0 unknown
	devices     uint64
}

// detect recognises the file system (or other content) at the start of r.
func detect(r io.ReaderAt) (fsInfo, error) {
	head := make([]byte, 68<<10)
	n, err := r.ReadAt(head, 0)
	if n < len(head) && err != nil && err != io.EOF {
		return fsInfo{}, fmt.Errorf("read file system superblock: %w", err)
	}
	head = head[:n]
	at := func(off int, magic string) bool {
		return len(head) >= off+len(magic) && string(head[off:off+len(magic)]) == magic
	}
	be32 := func(off int) uint64 { return uint64(binary.BigEndian.Uint32(head[off:])) }
	le32 := func(off int) uint64 { return uint64(binary.LittleEndian.Uint32(head[off:])) }
	le64 := func(off int) uint64 { return binary.LittleEndian.Uint64(head[off:]) }
	switch {
	case at(1080, "\x53\xef") && len(head) >= 2048:
		sb := head[1024:]
		blocks := le32(1024 + 0x4)     // s_blocks_count_lo
		if le32(1024+0x60)&0x80 != 0 { // INCOMPAT_64BIT: s_blocks_count_hi
			blocks |= le32(1024+0x150) << 32
		}
		logBlock := min(le32(1024+0x18), 6) // s_log_block_size: 1 KiB << n, at most 64 KiB
		return fsInfo{name: "ext4", label: cstr(sb[0x78:0x88]), uuid: uuidString(sb[0x68:0x78]),
			size: int64(min(blocks, 1<<50)) << (10 + logBlock), devices: 1}, nil
	case at(0, "XFSB") && len(head) >= 128:
		bs, dblocks := min(be32(4), 1<<16), min(binary.BigEndian.Uint64(head[8:]), 1<<46)
		return fsInfo{name: "xfs", label: cstr(head[108:120]), uuid: uuidString(head[32:48]), size: int64(dblocks * bs), devices: 1}, nil
	case at(0x10040, "_BHRfS_M") && len(head) >= 0x10000+0x200:
		sb := head[0x10000:]
		return fsInfo{name: "btrfs", label: cstr(sb[0x12b : 0x12b+256]), uuid: uuidString(sb[0x20:0x30]),
			size: int64(min(le64(0x10000+0x70), 1<<62)), devices: le64(0x10000 + 0x88)}, nil
	case at(0, "LUKS\xba\xbe"):
		return fsInfo{name: "a LUKS encrypted volume"}, nil
	case at(512+24, "LVM2 001"):
		return fsInfo{name: "an LVM physical volume"}, nil
	case len(head) >= 4100 && binary.LittleEndian.Uint32(head[4096:]) == 0xa92b4efc,
		len(head) >= 4 && binary.LittleEndian.Uint32(head[0:]) == 0xa92b4efc:
		return fsInfo{name: "a Linux software RAID member"}, nil
	case at(4086, "SWAPSPACE2") || at(4086, "SWAP-SPACE"):
		return fsInfo{name: "a swap area"}, nil
	case at(3, "NTFS    "):
		return fsInfo{name: "an NTFS file system"}, nil
	case at(0x52, "FAT32") || at(0x36, "FAT1"):
		return fsInfo{name: "a FAT file system"}, nil
	case at(32769, "CD001"):
		return fsInfo{name: "an ISO 9660 file system"}, nil
	case bytes.Equal(head[:min(4, len(head))], []byte("QFI\xfb")):
		return fsInfo{name: "a qcow2 image inside the image"}, nil
	}
	return fsInfo{}, nil
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "?")
}

func uuidString(b []byte) string {
	if len(b) < 16 || bytes.Equal(b[:16], make([]byte, 16)) {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
