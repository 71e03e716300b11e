// Package build packs byoi's installer initramfs: the static byoi-agent as
// /init, the kernel modules needed for common NICs and disks with their
// dependencies and index files, the firmware those modules declare, and a CA
// bundle for https image URLs, as a newc cpio archive (gzip, zstd or plain).
// The output is reproducible: records are sorted and carry fixed times and
// owners.
//
//	rep, err := build.Build(build.Options{
//		AgentBinary: "bin/byoi-agent",
//		ModulesDir:  "/lib/modules/6.1.0-56-amd64",
//		Output:      "out/initramfs.cpio.gz",
//	})
package build

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultModules are loaded into the initramfs when Options.Modules is
// empty: virtio, the common Intel and Mellanox NICs, SATA/AHCI, NVMe, SCSI
// disks and CD-ROMs, and the USB host controllers and storage.
var DefaultModules = []string{
	// virtio (QEMU and most clouds)
	"virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi",
	// NICs
	"e1000", "e1000e", "igb", "igc", "ixgbe", "i40e", "ice", "mlx5_core", "bnxt_en", "tg3", "r8169",
	// disks
	"ahci", "nvme", "sd_mod", "sr_mod", "mptsas", "megaraid_sas", "mpt3sas",
	// USB keyboards and sticks on the console of a lab machine
	"xhci_pci", "ehci_pci", "usb_storage", "uas", "hid_generic", "usbhid",
	// file systems (rescue-shell inspection of a config drive)
	"vfat", "isofs",
}

// DefaultCABundle is included when Options.CABundle is empty and it exists.
const DefaultCABundle = "/etc/ssl/certs/ca-certificates.crt"

// Compression formats.
const (
	Gzip = "gzip"
	Zstd = "zstd"
	None = "none"
)

// Options say what goes into the initramfs. The zero value of every field
// but AgentBinary, ModulesDir and Output has a default.
type Options struct {
	// AgentBinary is the static byoi-agent executable, installed as /init.
	AgentBinary string
	// ModulesDir is a kernel's module folder, e.g. /lib/modules/6.1.0-56-amd64
	// or the same path inside an unpacked linux-image package. Its base name
	// is the kernel release. Empty: no modules (the kernel must have
	// everything built in).
	ModulesDir string
	// Modules to include with their dependencies; default DefaultModules.
	// Names use '_' or '-' alike. Built-in modules are skipped.
	Modules []string
	// FirmwareDir (e.g. /lib/firmware) supplies the firmware files the chosen
	// modules declare; empty: no firmware.
	FirmwareDir string
	// CABundle is a PEM file installed as /etc/ssl/certs/ca-certificates.crt;
	// default DefaultCABundle when it exists, "-" for none.
	CABundle string
	// Output is the file written (atomically).
	Output string
	// Compression is "gzip" (default), "zstd" or "none".
	Compression string
}

// withDefaults returns a copy with defaults filled in, or the first
// problem found.
func (o Options) withDefaults() (Options, error) {
	if o.AgentBinary == "" {
		return o, errors.New("build initramfs: no agent binary given")
	}
	if o.Output == "" {
		return o, errors.New("build initramfs: no output file given")
	}
	if len(o.Modules) == 0 {
		o.Modules = DefaultModules
	}
	o.Compression = strings.ToLower(o.Compression)
	switch o.Compression {
	case "":
		o.Compression = Gzip
	case Gzip, Zstd, None:
	default:
		return o, fmt.Errorf("build initramfs: unknown compression %q: use gzip, zstd or none", o.Compression)
	}
	switch o.CABundle {
	case "":
		if _, err := os.Stat(DefaultCABundle); err == nil {
			o.CABundle = DefaultCABundle
		}
	case "-":
		o.CABundle = ""
	}
	if o.ModulesDir != "" {
		o.ModulesDir = filepath.Clean(o.ModulesDir)
		if _, err := os.Stat(filepath.Join(o.ModulesDir, "modules.dep")); err != nil {
			return o, fmt.Errorf("build initramfs: modules dir %s: %w (run depmod?)", o.ModulesDir, err)
		}
	}
	return o, nil
}

// Report describes a built initramfs.
type Report struct {
	Output        string
	KernelRelease string   // base name of ModulesDir
	Files         int      // cpio records, directories and devices included
	RawBytes      int64    // uncompressed cpio size
	Bytes         int64    // size of Output
	Modules       []string // module names included, load order
	Builtin       []string // requested modules the kernel has built in
	Firmware      []string // firmware files included
	// MissingFirmware lists declared firmware not found in FirmwareDir
	// (many drivers declare optional files).
	MissingFirmware []string
	// Libraries are the shared libraries a layer's programs need, as tree
	// paths, in the order found (layers only).
	Libraries []string
}
