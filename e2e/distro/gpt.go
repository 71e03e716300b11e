package distro

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The GPT image's layout, Debian genericcloud's: partition 14 is the BIOS
// boot partition (GRUB's core.img), 15 the ESP, 1 the root file system,
// last, so that it can grow.
const (
	gptSize      = 2 << 30
	gptBIOSStart = 2048   // sectors
	gptESPStart  = 8192   // 4 MiB
	gptRootStart = 262144 // 128 MiB
)

// gptRecipe versions the GPT builder: change it with the builder.
const gptRecipe = "gpt v1: genericcloud layout, shim+signed GRUB, GRUB i386-pc core in bios_grub, own grub.cfg"

// GPTImage returns a whole-disk GPT image like Debian's genericcloud
// images, as a qcow2: a BIOS boot partition with GRUB's core, an ESP (FAT32)
// with shim and Debian's signed GRUB under \EFI\debian and on the removable
// path \EFI\BOOT, and the ext4 root file system. GRUB and the kernel use the
// serial console; cloud-init reads only the config drive.
func (b *Builder) GPTImage(ctx context.Context) (Image, error) {
	return b.imageEntry(ctx, "gpt", []string{gptRecipe, grubCfg, espGrubCfg, coreCfg}, func(tmp, rootfs, key string) (Image, error) {
		return buildGPTImage(ctx, tmp, rootfs, key)
	})
}

// grubCfg is /boot/grub/grub.cfg. It finds the root by UUID: grub-mkconfig
// run against a loop device writes a `loopback loop0 …` line that breaks
// the installed system. Fields: root UUID, kernel version.
const grubCfg = `# byoi e2e GPT image (update-grub in the running system replaces this file)
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=1
set default=0
search --no-floppy --fs-uuid --set=root %[1]s
menuentry 'Debian GNU/Linux' {
	search --no-floppy --fs-uuid --set=root %[1]s
	linux /boot/vmlinuz-%[2]s root=UUID=%[1]s ro console=tty0 console=ttyS0,115200
	initrd /boot/initrd.img-%[2]s
}
`

// espGrubCfg is \EFI\debian\grub.cfg, what Debian's signed GRUB (its prefix
// is /EFI/debian) reads first, from either ESP path. Field: root UUID.
const espGrubCfg = `search.fs_uuid %[1]s root
set prefix=($root)'/boot/grub'
configfile $prefix/grub.cfg
`

// coreCfg is embedded in the i386-pc core.img. Field: root UUID.
const coreCfg = `search.fs_uuid %[1]s root
set prefix=($root)/boot/grub
`

func buildGPTImage(ctx context.Context, tmp, rootfs, key string) (Image, error) {
	st := filepath.Join(tmp, "stage")
	if err := os.Mkdir(st, 0o755); err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(st)
	kver, err := stage(ctx, rootfs, st)
	if err != nil {
		return Image{}, err
	}
	rootUUID := derivedUUID(key, "root")
	volID := strings.ToUpper(derivedUUID(key, "esp")[:8])
	img := Image{VirtualSize: gptSize, Kernel: kver, RootUUID: rootUUID,
		ESPUUID: volID[:4] + "-" + volID[4:], Loader: `\EFI\debian\shimx64.efi`}
	files := map[string]string{
		"etc/fstab": fmt.Sprintf("UUID=%s / ext4 rw,discard,errors=remount-ro 0 1\nUUID=%s /boot/efi vfat umask=0077 0 1\n",
			rootUUID, img.ESPUUID),
		"boot/grub/grub.cfg": fmt.Sprintf(grubCfg, rootUUID, kver),
	}
	for p, c := range files {
		if err := writeFile(filepath.Join(st, p), c, 0o644); err != nil {
			return Image{}, err
		}
	}
	if err := os.MkdirAll(filepath.Join(st, "boot", "efi"), 0o755); err != nil {
		return Image{}, err
	}
	// GRUB loads its modules from $prefix (/boot/grub/<platform>), as
	// grub-install would have copied them.
	for _, platform := range []string{"x86_64-efi", "i386-pc"} {
		if _, err := run(ctx, "cp", "-a", filepath.Join(st, "usr/lib/grub", platform), filepath.Join(st, "boot/grub/")); err != nil {
			return Image{}, err
		}
	}
	raw := filepath.Join(tmp, "disk.raw")
	if err := os.WriteFile(raw, nil, 0o644); err != nil {
		return Image{}, err
	}
	if err := os.Truncate(raw, gptSize); err != nil {
		return Image{}, err
	}
	if _, err := run(ctx, "sgdisk", "-o",
		"-n", fmt.Sprintf("14:%d:%d", gptBIOSStart, gptESPStart-1), "-t", "14:ef02", "-c", "14:bios",
		"-n", fmt.Sprintf("15:%d:%d", gptESPStart, gptRootStart-1), "-t", "15:ef00", "-c", "15:esp",
		"-n", fmt.Sprintf("1:%d:0", gptRootStart), "-t", "1:8304", "-c", "1:root", raw); err != nil {
		return Image{}, err
	}
	rootSize := int64(gptSize) - gptRootStart*512 - 34*512
	rootSize -= rootSize % 4096
	if err := mkfsExt4(ctx, raw, gptRootStart*512, rootSize, st, rootUUID, "root"); err != nil {
		return Image{}, err
	}
	if err := writeESP(ctx, raw, st, rootUUID, volID); err != nil {
		return Image{}, fmt.Errorf("esp: %w", err)
	}
	if err := installBIOSGrub(ctx, tmp, raw, st, rootUUID); err != nil {
		return Image{}, fmt.Errorf("grub i386-pc: %w", err)
	}
	return img, toQcow2(ctx, raw, filepath.Join(tmp, "disk.qcow2"))
}

// writeESP makes the FAT32 ESP with shim, signed GRUB and MokManager under
// \EFI\debian and again on the removable path \EFI\BOOT.
func writeESP(ctx context.Context, raw, st, rootUUID, volID string) error {
	espSectors := int64(gptRootStart - gptESPStart)
	if _, err := run(ctx, "mkfs.fat", "-F", "32", "-n", "ESP", "-i", volID, "--offset", fmt.Sprint(gptESPStart),
		raw, fmt.Sprint(espSectors/2)); err != nil {
		return err
	}
	at := fmt.Sprintf("%s@@%d", raw, gptESPStart*512)
	if _, err := run(ctx, "mmd", "-i", at, "::/EFI", "::/EFI/debian", "::/EFI/BOOT"); err != nil {
		return err
	}
	cfg := filepath.Join(st, "tmp", "esp-grub.cfg")
	if err := writeFile(cfg, fmt.Sprintf(espGrubCfg, rootUUID), 0o644); err != nil {
		return err
	}
	defer os.Remove(cfg)
	shim, mm := filepath.Join(st, "usr/lib/shim/shimx64.efi.signed"), filepath.Join(st, "usr/lib/shim/mmx64.efi.signed")
	grub := filepath.Join(st, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")
	copies := [][2]string{
		{shim, "/EFI/debian/shimx64.efi"}, {grub, "/EFI/debian/grubx64.efi"}, {mm, "/EFI/debian/mmx64.efi"},
		{cfg, "/EFI/debian/grub.cfg"},
		{shim, "/EFI/BOOT/BOOTX64.EFI"}, {grub, "/EFI/BOOT/grubx64.efi"}, {mm, "/EFI/BOOT/mmx64.efi"},
	}
	for _, c := range copies {
		if _, err := run(ctx, "mcopy", "-i", at, c[0], "::"+c[1]); err != nil {
			return err
		}
	}
	return nil
}

// installBIOSGrub puts GRUB's i386-pc boot code in the protective MBR and
// its core image (which finds the root by UUID) in the BIOS boot
// partition. The rootfs's own grub-mkimage and grub-bios-setup run in a
// chroot of the stage, on the image file through a device map: no loop
// device, nothing mounted.
func installBIOSGrub(ctx context.Context, tmp, raw, st, rootUUID string) error {
	const inside = "/tmp/grub-bios"
	work := filepath.Join(st, inside)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := writeFile(filepath.Join(work, "early.cfg"), fmt.Sprintf(coreCfg, rootUUID), 0o644); err != nil {
		return err
	}
	if _, err := run(ctx, "chroot", st, "grub-mkimage", "-O", "i386-pc", "-o", inside+"/core.img",
		"-c", inside+"/early.cfg", "-p", "/boot/grub", "biosdisk", "part_gpt", "ext2", "search_fs_uuid"); err != nil {
		return err
	}
	if _, err := run(ctx, "cp", filepath.Join(st, "usr/lib/grub/i386-pc/boot.img"), work+"/"); err != nil {
		return err
	}
	if err := os.Link(raw, filepath.Join(work, "disk.raw")); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(work, "device.map"), "(hd0) "+inside+"/disk.raw\n", 0o644); err != nil {
		return err
	}
	_, err := run(ctx, "chroot", st, "/usr/lib/grub/i386-pc/grub-bios-setup", "-d", inside, "-m", inside+"/device.map", inside+"/disk.raw")
	return err
}
