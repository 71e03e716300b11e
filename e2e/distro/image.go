package distro

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Image is a built disk image in the cache. Its files are shared by every
// user of the cache: copy, never modify.
type Image struct {
	Path        string `json:"-"`           // the qcow2 file
	VirtualSize int64  `json:"virtualSize"` // bytes
	Kernel      string `json:"kernel"`      // e.g. 6.1.0-57-amd64
	RootUUID    string `json:"rootUUID"`    // ext4 root file system
	ESPUUID     string `json:"espUUID,omitempty"`
	// Loader is the UEFI loader GPTImage installs (shim), as an
	// efiBootloaderPath; the removable path \EFI\BOOT\BOOTX64.EFI holds it too.
	Loader string `json:"loader,omitempty"`
}

// imageEntry builds (or finds) a cached image named name from the rootfs;
// build (given the entry's key, for derived UUIDs) fills the temporary directory with disk.qcow2 and returns the
// image's description.
func (b *Builder) imageEntry(ctx context.Context, name string, recipe []string, build func(tmp, rootfs, key string) (Image, error)) (Image, error) {
	rootfs, err := b.Rootfs(ctx)
	if err != nil {
		return Image{}, err
	}
	rkey, _, err := b.rootfsKey()
	if err != nil {
		return Image{}, err
	}
	key := hashKey(append([]string{name, rkey}, recipe...)...)
	start := time.Now()
	entry, hit, err := cached(ctx, b.dir(), name, key, func(tmp string) error {
		b.log().Info("building image", "image", name, "dir", tmp)
		img, err := build(tmp, rootfs, key)
		if err != nil {
			return err
		}
		data, err := json.MarshalIndent(img, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, "image.json"), data, 0o644)
	})
	if err != nil {
		return Image{}, err
	}
	b.log().Info("image ready", "image", name, "dir", entry, "cached", hit, "took", time.Since(start).Round(time.Millisecond))
	data, err := os.ReadFile(filepath.Join(entry, "image.json"))
	if err != nil {
		return Image{}, err
	}
	var img Image
	if err := json.Unmarshal(data, &img); err != nil {
		return Image{}, fmt.Errorf("%s: %w", entry, err)
	}
	img.Path = filepath.Join(entry, "disk.qcow2")
	return img, nil
}

// stage copies the cached rootfs to dir (the image builders add files to
// the copy, never to the cache) and returns the kernel version it holds.
func stage(ctx context.Context, rootfs, dir string) (string, error) {
	if _, err := run(ctx, "cp", "-a", "--reflink=auto", rootfs+"/.", dir+"/"); err != nil {
		return "", err
	}
	kernels, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(kernels) == 0 {
		return "", fmt.Errorf("no kernel in %s/boot", rootfs)
	}
	sort.Strings(kernels)
	return strings.TrimPrefix(filepath.Base(kernels[len(kernels)-1]), "vmlinuz-"), nil
}

// mkfsExt4 makes an ext4 file system of size bytes from the directory src
// at byte offset off of the file img. GRUB 2.06 (bookworm) cannot read the
// metadata_csum_seed and orphan_file features, so they are left out.
func mkfsExt4(ctx context.Context, img string, off, size int64, src, fsUUID, label string) error {
	_, err := run(ctx, "mkfs.ext4", "-q", "-F", "-d", src, "-U", fsUUID, "-L", label,
		"-O", "^metadata_csum_seed,^orphan_file", "-E", fmt.Sprintf("offset=%d", off), img, fmt.Sprintf("%dk", size>>10))
	return err
}

// derivedUUID makes a stable UUID from a cache key and a purpose, so that
// the same recipe gives byte-identical file systems.
func derivedUUID(key, what string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("byoi-distro:"+key+":"+what)).String()
}

func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), mode)
}

// toQcow2 converts the raw image to a zlib-compressed qcow2 and removes it.
func toQcow2(ctx context.Context, raw, qcow2 string) error {
	if _, err := run(ctx, "qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, qcow2); err != nil {
		return err
	}
	return os.Remove(raw)
}
