//go:build !linux

package disk

import (
	"fmt"
	"os"
)

// Reread does nothing outside Linux for regular files and fails for devices.
func Reread(f *os.File) error {
	fi, err := f.Stat()
	if err != nil || fi.Mode().IsRegular() {
		return err
	}
	return fmt.Errorf("re-read partition table of %s: only supported on linux", f.Name())
}

func size(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", f.Name(), err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("size of %s: block devices only supported on linux", f.Name())
	}
	return fi.Size(), nil
}
