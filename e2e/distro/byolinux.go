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

// byolinuxRecipe versions the BYOLinux builder: change it with the builder.
const byolinuxRecipe = "byolinux v1: GPT, one ext4 partition, /root/.ovh/make_image_bootable.sh"

// BYOLinuxImage returns a qcow2 holding one partition (GPT), an ext4 file
// system with the same root file system and /root/.ovh/make_image_bootable.sh,
// which a BYOLinux installer runs in a chroot after copying the files to
// the machine's own partitions (it installs GRUB and the initramfs for
// them). The image itself has no boot loader.
func (b *Builder) BYOLinuxImage(ctx context.Context) (Image, error) {
	return b.imageEntry(ctx, "byolinux", []string{byolinuxRecipe, makeImageBootable}, func(tmp, rootfs, key string) (Image, error) {
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
