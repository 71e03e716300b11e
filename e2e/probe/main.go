// Command probe is the "installed operating system" of the e2e tests. It is
// packed as /init of a small initramfs inside the test disk images (a unified
// kernel image on UEFI, a syslinux entry on BIOS). At boot it finds the
// config-2 partition byoi added, prints what cloud-init would read from it to
// the serial console, and powers the machine off:
//
//	BYOI-PROBE-BOOTED
//	BYOI-PROBE-META {...meta_data.json...}
//	BYOI-PROBE-USERDATA <base64 of user_data>
//	BYOI-PROBE-DONE
//
// or BYOI-PROBE-FAIL <reason>. The e2e tests assert on these lines.
package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"
)

func main() {
	fmt.Println("BYOI-PROBE-BOOTED")
	if err := run(); err != nil {
		fmt.Printf("BYOI-PROBE-FAIL %v\n", err)
	}
	unix.Sync()
	time.Sleep(200 * time.Millisecond)
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func run() error {
	for _, m := range []struct{ src, dst, fs string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		_ = os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	for _, mod := range []string{"virtio_pci", "virtio_blk", "virtio_scsi", "ahci", "sd_mod", "isofs", "vfat", "nls_cp437"} {
		if err := kmodule.Probe(mod, ""); err != nil {
			fmt.Printf("probe: module %s: %v\n", mod, err)
		}
	}
	var dev, fstype string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if dev, fstype = findConfigDrive(); dev != "" {
			break
		}
	}
	if dev == "" {
		return errors.New("no config-2 partition found")
	}
	fmt.Printf("BYOI-PROBE-DEVICE %s %s\n", dev, fstype)
	_ = os.MkdirAll("/mnt", 0o755)
	if err := unix.Mount(dev, "/mnt", fstype, unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mount %s (%s): %w", dev, fstype, err)
	}
	meta, err := os.ReadFile("/mnt/openstack/latest/meta_data.json")
	if err != nil {
		return err
	}
	fmt.Printf("BYOI-PROBE-META %s\n", bytes.Join(bytes.Fields(meta), []byte(" ")))
	if ud, err := os.ReadFile("/mnt/openstack/latest/user_data"); err == nil {
		fmt.Printf("BYOI-PROBE-USERDATA %s\n", base64.StdEncoding.EncodeToString(ud))
	}
	fmt.Println("BYOI-PROBE-DONE")
	return nil
}

// findConfigDrive returns the block device carrying a filesystem labelled
// config-2 and its type, by reading the label from the device itself.
func findConfigDrive() (string, string) {
	entries, _ := filepath.Glob("/sys/class/block/*")
	for _, e := range entries {
		name := filepath.Base(e)
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		f, err := os.Open("/dev/" + name)
		if err != nil {
			continue
		}
		buf := make([]byte, 0x8000+2048)
		n, _ := f.ReadAt(buf, 0)
		f.Close()
		buf = buf[:n]
		if len(buf) >= 0x8000+72 && string(buf[0x8001:0x8006]) == "CD001" &&
			strings.TrimSpace(string(buf[0x8028:0x8048])) == "config-2" {
			return "/dev/" + name, "iso9660"
		}
		if len(buf) >= 512 && buf[510] == 0x55 && buf[511] == 0xaa {
			for _, off := range []int{0x2b, 0x47} { // FAT12/16, FAT32 volume label
				if strings.EqualFold(strings.TrimSpace(string(buf[off:off+11])), "config-2") {
					return "/dev/" + name, "vfat"
				}
			}
		}
	}
	return "", ""
}
