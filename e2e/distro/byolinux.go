package distro

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

//go:embed files/make_image_bootable.sh
var makeImageBootable string

// The installed system's proof of boot (see the script).
var (
	//go:embed files/byoi-e2e-marker.sh
	markerScript string
	//go:embed files/byoi-e2e-marker.service
	markerUnit string
)

// byolinuxRecipe versions the BYOLinux builder: change it with the builder.
const byolinuxRecipe = "byolinux v3: GPT, one ext4 partition, /root/.ovh/make_image_bootable.sh, slim root, MODULES=list"

// byolinuxModules are the kernel modules the BYOLinux image keeps (with
// what they depend on): a QEMU machine's disks, NIC and console, md RAID,
// device-mapper, and the file systems of the default layout, the ESP and
// the config drive. The rest of the kernel's 4 900 files (396 MiB) goes:
// it is most of what the installer would copy file by file, and what
// update-initramfs (Debian's MODULES=most) spends most of its time on
// under TCG.
var byolinuxModules = []string{
	"virtio_pci", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_console", "virtio_rng",
	"md_mod", "linear", "raid0", "raid1", "raid10", "raid456", "dm_mod",
	"ext4", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859-1", "isofs", "efivarfs",
	"loop", "crc32c_generic", "crc32c_intel",
}

// byolinuxInitramfsModules is what the image's initramfs loads
// (MODULES=list): enough to find an ext4 root on a virtio disk, directly
// or on md RAID1 (Debian's mdadm hook adds the other RAID levels).
var byolinuxInitramfsModules = []string{"virtio_pci", "virtio_blk", "ext4", "crc32c_generic", "md_mod", "raid1"}

// byolinuxDrop are the trees of the root file system the BYOLinux image
// leaves out: documentation and translations nobody reads on a test VM,
// Python (only cloud-init used it, disabled here), and the services the
// flow does not use (ssh would fail without the host keys cloud-init
// makes).
var byolinuxDrop = []string{"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/i18n", "usr/share/locale",
	"usr/lib/python3", "usr/lib/python3.11",
	"etc/systemd/system/multi-user.target.wants/ssh.service", "etc/systemd/system/multi-user.target.wants/cron.service",
	"etc/systemd/system/timers.target.wants"}

// BYOLinuxImage returns a qcow2 holding one partition (GPT), an ext4 file
// system with the same root file system and /root/.ovh/make_image_bootable.sh,
// which a BYOLinux installer runs in a chroot after copying the files to
// the machine's own partitions (it installs GRUB and the initramfs for
// them). The image itself has no boot loader.
func (b *Builder) BYOLinuxImage(ctx context.Context) (Image, error) {
	return b.imageEntry(ctx, "byolinux", []string{byolinuxRecipe, makeImageBootable, markerScript, markerUnit}, func(tmp, rootfs, key string) (Image, error) {
		return buildBYOLinux(ctx, tmp, rootfs, key)
	})
}

func buildBYOLinux(ctx context.Context, tmp, rootfs, key string) (Image, error) {
	st := filepath.Join(tmp, "stage")
	if err := os.Mkdir(st, 0o755); err != nil {
		return Image{}, err
	}
	defer os.RemoveAll(st)
	kver, err := stage(ctx, rootfs, st)
	if err != nil {
		return Image{}, err
	}
	if err := slim(ctx, st, kver); err != nil {
		return Image{}, err
	}
	rootUUID := derivedUUID(key, "root")
	if err := writeFile(filepath.Join(st, "root/.ovh/make_image_bootable.sh"), makeImageBootable, 0o755); err != nil {
		return Image{}, err
	}
	if err := writeFile(filepath.Join(st, "etc/fstab"), fmt.Sprintf("UUID=%s / ext4 rw,errors=remount-ro 0 1\n", rootUUID), 0o644); err != nil {
		return Image{}, err
	}
	// The partition: the tree plus a third, in whole 64 MiB.
	out, err := run(ctx, "du", "-s", "-B1", st)
	if err != nil {
		return Image{}, err
	}
	used, err := strconv.ParseInt(strings.Fields(out)[0], 10, 64)
	if err != nil {
		return Image{}, fmt.Errorf("du %s: %q", st, out)
	}
	const unit = 64 << 20
	part := (used*4/3 + unit - 1) / unit * unit
	size := part + 2<<20 // 1 MiB before the partition, the backup GPT after
	raw := filepath.Join(tmp, "disk.raw")
	if err := os.WriteFile(raw, nil, 0o644); err != nil {
		return Image{}, err
	}
	if err := os.Truncate(raw, size); err != nil {
		return Image{}, err
	}
	if _, err := run(ctx, "sgdisk", "-o", "-n", fmt.Sprintf("1:2048:%d", 2048+part/512-1), "-t", "1:8300", "-c", "1:root", raw); err != nil {
		return Image{}, err
	}
	if err := mkfsExt4(ctx, raw, 1<<20, part, st, rootUUID, "root"); err != nil {
		return Image{}, err
	}
	img := Image{VirtualSize: size, Kernel: kver, RootUUID: rootUUID}
	return img, toQcow2(ctx, raw, filepath.Join(tmp, "disk.qcow2"))
}

// slim makes the staged root smaller and quicker to make bootable: the
// kernel modules outside byolinuxModules' closure and the byolinuxDrop
// trees are removed, depmod runs again, and the initramfs is built with
// MODULES=list; cloud-init is disabled and byoi-e2e-marker.service
// reports the boot instead. A user's image would keep all of it; the test
// keeps what the flow exercises (the file copy and make_image_bootable.sh
// are the same code on 300 MiB as on 900 MiB) at a fraction of the VM
// time.
func slim(ctx context.Context, st, kver string) error {
	out, err := run(ctx, "modprobe", append([]string{"-d", st, "-S", kver, "--show-depends", "--ignore-install", "-a"}, byolinuxModules...)...)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "insmod" {
			keep[filepath.Clean(f[1])] = true
		}
	}
	if len(keep) < len(byolinuxModules)/2 {
		return fmt.Errorf("modprobe --show-depends found %d modules for %v:\n%s", len(keep), byolinuxModules, out)
	}
	// modprobe prints the paths under /lib (usr-merged: a symbolic link).
	kdir := filepath.Join(st, "lib", "modules", kver, "kernel")
	removed := 0
	err = filepath.WalkDir(kdir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !keep[filepath.Clean(p)] {
			removed++
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if removed == 0 {
		return fmt.Errorf("slim: no module removed under %s (kept %d)", kdir, len(keep))
	}
	if _, err := run(ctx, "depmod", "-b", st, kver); err != nil {
		return err
	}
	for _, d := range byolinuxDrop {
		if err := os.RemoveAll(filepath.Join(st, d)); err != nil {
			return err
		}
	}
	// An empty translations directory (grub-install warns without one).
	if err := os.MkdirAll(filepath.Join(st, "usr/share/locale"), 0o755); err != nil {
		return err
	}
	// The proof of boot instead of cloud-init (byoi-e2e-marker.sh says why).
	if err := writeFile(filepath.Join(st, "etc/cloud/cloud-init.disabled"), "", 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(st, "usr/local/sbin/byoi-e2e-marker"), markerScript, 0o755); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(st, "etc/systemd/system/byoi-e2e-marker.service"), markerUnit, 0o644); err != nil {
		return err
	}
	if err := os.Symlink("/etc/systemd/system/byoi-e2e-marker.service", filepath.Join(st, "etc/systemd/system/multi-user.target.wants/byoi-e2e-marker.service")); err != nil {
		return err
	}
	conf := "# byoi e2e: the modules listed in ../modules only (MODULES=most takes\n# 13 minutes under TCG)\nMODULES=list\n"
	if err := writeFile(filepath.Join(st, "etc/initramfs-tools/conf.d/byoi-e2e.conf"), conf, 0o644); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(st, "etc/initramfs-tools/modules"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(byolinuxInitramfsModules, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
