package e2e

import (
	"context"
	"debug/pe"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Fixtures are the test images, generated at test time (never committed):
//
//	UEFIRaw: a GPT disk whose EFI system partition holds, at the non-default
//	path \EFI\byoitest\bootx64.efi, a unified kernel image (systemd-boot stub +
//	Debian kernel + the probe initramfs, console=ttyS0 embedded);
//	UEFIBigRaw: the same ESP on a 2 GiB disk with a second partition of
//	bigDataSize incompressible bytes, so that installing it proves the
//	installer streams (the VM that installs it has 512 MiB of RAM);
//	BIOSRaw: an MBR disk with a bootable FAT partition, syslinux in the MBR and
//	the same kernel + probe initramfs.
//
// Both are offered as raw and in the encoded forms the flows use.
type Fixtures struct {
	Dir         string
	ProbeInitrd string
	UKI         string
	UEFIRaw     string
	UEFIBigRaw  string
	UEFIQcow2   string // UEFIBigRaw as a compressed qcow2
	BIOSRaw     string
	BIOSRawGz   string
}

// EFILoaderPath is where the UKI sits on the ESP of UEFIRaw.
const EFILoaderPath = `\EFI\byoitest\bootx64.efi`

const (
	imageSize    = 48 << 20
	bigImageSize = 2 << 30
	bigDataSize  = 256 << 20
)

// probeModules are what the probe needs to find and mount the config drive.
var probeModules = []string{"virtio_pci", "virtio_blk", "virtio_scsi", "ahci", "sd_mod", "isofs", "vfat", "nls_cp437"} // bytes; partitions start at 1 MiB

func buildFixtures(ctx context.Context, h *Harness, dir string) (*Fixtures, error) {
	f := &Fixtures{Dir: dir}
	probe := filepath.Join(dir, "probe")
	cmd := fmt.Sprintf("cd %q && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o %q ./e2e/probe", h.Root, probe)
	if _, err := run(ctx, "sh", "-c", cmd); err != nil {
		return nil, err
	}
	f.ProbeInitrd = filepath.Join(dir, "probe.img")
	args := []string{"initramfs", "build", "--agent", probe, "--modules-dir", h.ModulesDir, "--output", f.ProbeInitrd}
	for _, m := range probeModules {
		args = append(args, "--module", m)
	}
	if _, err := run(ctx, h.Byoi, args...); err != nil {
		return nil, err
	}
	var err error
	if f.UKI, err = buildUKI(ctx, dir, h.Kernel, f.ProbeInitrd); err != nil {
		return nil, fmt.Errorf("uki: %w", err)
	}
	if f.UEFIRaw, err = buildGPTImage(ctx, filepath.Join(dir, "uefi.raw"), f.UKI, imageSize, 0); err != nil {
		return nil, fmt.Errorf("gpt image: %w", err)
	}
	if f.UEFIBigRaw, err = buildGPTImage(ctx, filepath.Join(dir, "uefi-big.raw"), f.UKI, bigImageSize, bigDataSize); err != nil {
		return nil, fmt.Errorf("big gpt image: %w", err)
	}
	f.UEFIQcow2 = filepath.Join(dir, "uefi-big.qcow2")
	if _, err := run(ctx, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", f.UEFIBigRaw, f.UEFIQcow2); err != nil {
		return nil, err
	}
	if f.BIOSRaw, err = buildMBRImage(ctx, dir, h.Kernel, f.ProbeInitrd); err != nil {
		return nil, fmt.Errorf("mbr image: %w", err)
	}
	f.BIOSRawGz = f.BIOSRaw + ".gz"
	if _, err := run(ctx, "sh", "-c", fmt.Sprintf("gzip -1 -c %q > %q", f.BIOSRaw, f.BIOSRawGz)); err != nil {
		return nil, err
	}
	return f, nil
}

// buildUKI glues kernel, initrd and command line onto the systemd-boot stub
// with objcopy. Section addresses follow the stub's own sections, aligned to
// its section alignment (systemd 252's stub reads them from the PE headers).
func buildUKI(ctx context.Context, dir, kernel, initrd string) (string, error) {
	const stub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
	pf, err := pe.Open(stub)
	if err != nil {
		return "", err
	}
	oh, ok := pf.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		pf.Close()
		return "", fmt.Errorf("%s: not a PE32+ stub", stub)
	}
	end := uint64(0)
	for _, s := range pf.Sections {
		if e := uint64(s.VirtualAddress) + uint64(s.VirtualSize); e > end {
			end = e
		}
	}
	pf.Close()
	align := uint64(oh.SectionAlignment)
	next := func(size int64) uint64 {
		addr := (end + align - 1) / align * align
		end = addr + uint64(size)
		return oh.ImageBase + addr
	}
	osrel := filepath.Join(dir, "os-release")
	cmdline := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(osrel, []byte("NAME=byoi-probe\nID=byoiprobe\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(cmdline, []byte("console=ttyS0 panic=-1\x00"), 0o644); err != nil {
		return "", err
	}
	args := []string{}
	for _, s := range []struct{ name, file string }{{".osrel", osrel}, {".cmdline", cmdline}, {".linux", kernel}, {".initrd", initrd}} {
		st, err := os.Stat(s.file)
		if err != nil {
			return "", err
		}
		args = append(args, "--add-section", s.name+"="+s.file,
			"--change-section-vma", fmt.Sprintf("%s=0x%x", s.name, next(st.Size())))
	}
	out := filepath.Join(dir, "probe.efi")
	args = append(args, stub, out)
	if _, err := run(ctx, "objcopy", args...); err != nil {
		return "", err
	}
	return out, nil
}

// buildGPTImage makes a GPT disk of size bytes with one EFI system partition
// holding the UKI at EFILoaderPath (and nothing at the removable default
// path) and, when data > 0, a second partition of data pseudo-random bytes.
func buildGPTImage(ctx context.Context, img, uki string, size, data int64) (string, error) {
	loader := strings.ReplaceAll(EFILoaderPath, `\`, "/")
	parts := []string{"-o", "-n", "1:2048:+40M", "-t", "1:ef00", "-c", "1:ESP"}
	if data > 0 {
		parts = append(parts, "-n", fmt.Sprintf("2:0:+%dM", data>>20), "-t", "2:8300", "-c", "2:DATA")
	}
	steps := [][]string{
		{"truncate", "-s", fmt.Sprint(size), img},
		append(append([]string{"sgdisk"}, parts...), img),
		{"mkfs.fat", "-F", "16", "-n", "ESP", "--offset", "2048", img, fmt.Sprint(40 << 10)},
		{"mmd", "-i", img + "@@1M", "::/EFI", "::/EFI/byoitest"},
		{"mcopy", "-i", img + "@@1M", uki, "::" + loader},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return "", err
		}
	}
	if data > 0 { // partition 2 starts right after the ESP: 1 MiB + 40 MiB
		if err := fillPattern(img, 41<<20, data, 0x243f6a8885a308d3); err != nil {
			return "", err
		}
	}
	return img, nil
}

// buildMBRImage makes an MBR disk: syslinux's MBR code, one bootable FAT16
// partition with syslinux, the kernel and the probe initramfs.
func buildMBRImage(ctx context.Context, dir, kernel, initrd string) (string, error) {
	img := filepath.Join(dir, "bios.raw")
	cfg := filepath.Join(dir, "syslinux.cfg")
	if err := os.WriteFile(cfg, []byte("SERIAL 0 115200\nDEFAULT probe\nPROMPT 0\nTIMEOUT 1\nLABEL probe\n  KERNEL vmlinuz\n  INITRD probe.img\n  APPEND console=ttyS0 panic=-1\n"), 0o644); err != nil {
		return "", err
	}
	steps := [][]string{
		{"truncate", "-s", fmt.Sprint(imageSize), img},
		{"sh", "-c", fmt.Sprintf("printf 'label: dos\\nstart=2048, size=%d, type=6, bootable\\n' | sfdisk -q %q", (40<<20)/512, img)},
		{"mkfs.fat", "-F", "16", "-n", "BOOT", "--offset", "2048", img, fmt.Sprint(40 << 10)},
		{"syslinux", "--offset", fmt.Sprint(1 << 20), "--install", img},
		{"dd", "if=/usr/lib/syslinux/mbr/mbr.bin", "of=" + img, "bs=440", "count=1", "conv=notrunc"},
		{"mcopy", "-i", img + "@@1M", kernel, "::/vmlinuz"},
		{"mcopy", "-i", img + "@@1M", initrd, "::/probe.img"},
		{"mcopy", "-i", img + "@@1M", cfg, "::/syslinux.cfg"},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return "", err
		}
	}
	return img, nil
}

// garbageDisk creates a disk image of size bytes filled with a non-zero
// pseudo-random pattern, so that anything the installer fails to write or
// zero shows.
func garbageDisk(path string, size int64) error {
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return err
	}
	return fillPattern(path, 0, size, 0x9e3779b97f4a7c15)
}

// fillPattern writes size bytes of a xorshift stream seeded with seed (never
// a zero byte, never repeating within a MiB) into path at off.
func fillPattern(path string, off, size int64, seed uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	block := make([]byte, 1<<20)
	x := seed
	for done := int64(0); done < size; done += int64(len(block)) {
		for i := range block {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			block[i] = byte(x) | 1
		}
		n := min(int64(len(block)), size-done)
		if _, err := f.WriteAt(block[:n], off+done); err != nil {
			return err
		}
	}
	return f.Close()
}
