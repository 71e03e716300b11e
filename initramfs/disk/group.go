package disk

import (
	"fmt"

	"github.com/byoi/byoi/boot"
)

// SelectAll returns every disk that matches the hints, in List's order: the
// disks of a disk group for BYOLinux's partitioning (RAID across them).
// With no hints it returns every disk that is neither removable nor
// read-only. A read-only disk is never selected.
func SelectAll(disks []Disk, h boot.DiskHints) ([]Disk, error) {
	var out []Disk
	for _, d := range disks {
		if d.ReadOnly {
			continue
		}
		if h == (boot.DiskHints{}) && !d.Removable || h != (boot.DiskHints{}) && matches(d, h) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		if h == (boot.DiskHints{}) {
			return nil, fmt.Errorf("%w: none of %d disks is a writable, non-removable disk", ErrNoDisk, len(disks))
		}
		return nil, fmt.Errorf("%w: none of %d disks matches %s", ErrNoDisk, len(disks), describeHints(h))
	}
	return out, nil
}
