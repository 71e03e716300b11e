package imagefs

import (
	"encoding/binary"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// btrfs tree search (linux/btrfs.h): BTRFS_IOC_TREE_SEARCH with a 4096-byte
// struct btrfs_ioctl_search_args, whose first 104 bytes are the key.
const (
	btrfsIocTreeSearch   = 0xd0009411 // _IOWR(0x94, 17, 4096)
	btrfsRootTreeID      = 1
	btrfsFirstFreeObject = 256
	btrfsLastFreeObject  = ^uint64(255) // -256
	btrfsRootItemKey     = 132
)

// NoSubvolumes refuses a btrfs file system mounted at dir that has
// subvolumes or snapshots besides its top level: the file copy would turn
// them into plain directories, and the image's fstab or boot loader would
// not find them. Other file systems pass.
func NoSubvolumes(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type != unix.BTRFS_SUPER_MAGIC {
		return nil
	}
	n, err := subvolumes(dir)
	if err != nil {
		return err
	}
	if n > 0 {
		return refused("image provided holds a btrfs file system with %d subvolume(s) or snapshot(s): only btrfs without subvolumes is supported", n)
	}
	return nil
}

// subvolumes counts the root items of subvolumes in the root tree.
func subvolumes(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var args [4096]byte
	le := binary.LittleEndian
	le.PutUint64(args[0:], btrfsRootTreeID)      // tree_id
	le.PutUint64(args[8:], btrfsFirstFreeObject) // min_objectid
	le.PutUint64(args[16:], btrfsLastFreeObject) // max_objectid
	le.PutUint64(args[24:], 0)                   // min_offset
	le.PutUint64(args[32:], ^uint64(0))          // max_offset
	le.PutUint64(args[40:], 0)                   // min_transid
	le.PutUint64(args[48:], ^uint64(0))          // max_transid
	le.PutUint32(args[56:], btrfsRootItemKey)    // min_type
	le.PutUint32(args[60:], btrfsRootItemKey)    // max_type
	le.PutUint32(args[64:], 4096)                // nr_items
	_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), btrfsIocTreeSearch, uintptr(unsafe.Pointer(&args[0])))
	if e != 0 {
		return 0, fmt.Errorf("btrfs tree search on %s: %w", dir, e)
	}
	// The search walks keys in order from the minimum to the maximum key,
	// so other item types of those objects come back too: count root items.
	n, items := 0, int(le.Uint32(args[64:]))
	for off, i := 104, 0; i < items && off+32 <= len(args); i++ {
		typ, size := le.Uint32(args[off+24:]), int(le.Uint32(args[off+28:]))
		if typ == btrfsRootItemKey {
			n++
		}
		off += 32 + size
	}
	return n, nil
}
