package agent

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/initramfs/kmod"
)

// loadModuleFile hands one module file to the kernel: finit_module for a
// plain .ko, init_module with the decompressed bytes otherwise.
func loadModuleFile(path string) error {
	var err error
	if kmod.Compressed(path) {
		var b []byte
		if b, err = kmod.ReadFile(path); err != nil {
			return err
		}
		err = unix.InitModule(b, "")
	} else {
		var f *os.File
		if f, err = os.Open(path); err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
	}
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}
