package distro

import (
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/byoi/byoi/initramfs/preflight"
	"github.com/lima-vm/go-qcow2reader"
)

// The real builds take 3 (quiet machine) to 45 minutes the first time (mmdebstrap, the
// network, a loaded machine), seconds once cached, so they run here only
// with BYOI_DISTRO_BUILD=1; the e2e suite builds the same entries when it
// needs them.
func needBuild(t *testing.T) (context.Context, *Builder) {
	t.Helper()
	if os.Getenv("BYOI_DISTRO_BUILD") != "1" {
		t.Skip("set BYOI_DISTRO_BUILD=1 to build the real images")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	t.Cleanup(cancel)
	return ctx, &Builder{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
}

func TestBuildRootfs(t *testing.T) {
	ctx, b := needBuild(t)
	root, err := b.Rootfs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"usr/lib/shim/shimx64.efi.signed", "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
		"usr/lib/grub/i386-pc/boot.img", "usr/lib/locale/locale-archive", "etc/cloud/cloud.cfg.d/90_byoi.cfg", "usr/sbin/mdadm"} {
		if _, err := os.Stat(root + "/" + f); err != nil {
			t.Errorf("rootfs lacks %s: %v", f, err)
		}
	}
}

// openQcow2 opens an image's virtual disk for the pre-flight checks.
func openQcow2(t *testing.T, path string) (*os.File, int64, interface {
	ReadAt([]byte, int64) (int, error)
}) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	q, err := qcow2reader.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	return f, q.Size(), q
}

func TestBuildGPTImage(t *testing.T) {
	ctx, b := needBuild(t)
	img, err := b.GPTImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("qemu-img", "check", img.Path).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check: %v\n%s", err, out)
	}
	_, size, q := openQcow2(t, img.Path)
	res, err := preflight.Check(q, preflight.Config{Firmware: preflight.UEFI, Size: size})
	if err != nil || res.Loader != img.Loader {
		t.Fatalf("preflight UEFI = %+v, %v; want %s picked", res, err, img.Loader)
	}
	if _, err := preflight.Check(q, preflight.Config{Firmware: preflight.BIOS, Size: size}); err != nil {
		t.Errorf("preflight BIOS = %v", err)
	}
	// GRUB's boot.img points at core.img in the BIOS boot partition.
	mbr := make([]byte, 512)
	if _, err := q.ReadAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint64(mbr[grubKernelSector:]); got != gptBIOSStart {
		t.Errorf("boot.img kernel sector = %d, want %d", got, gptBIOSStart)
	}
	t.Logf("GPT image %s: %+v, loaders %v", img.Path, img, res.Loaders)
}

func TestBuildBYOLinuxImage(t *testing.T) {
	ctx, b := needBuild(t)
	img, err := b.BYOLinuxImage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, size, q := openQcow2(t, img.Path)
	tab, err := preflight.ReadTable(q, size)
	if err != nil || len(tab.Partitions) != 1 {
		t.Fatalf("BYOLinux partition table = %+v, %v; want one partition", tab, err)
	}
	sb := make([]byte, 2)
	if _, err := q.ReadAt(sb, tab.Partitions[0].Start+1080); err != nil || sb[0] != 0x53 || sb[1] != 0xef {
		t.Errorf("partition 1 has no ext4 superblock magic: %x, %v", sb, err)
	}
	t.Logf("BYOLinux image %s: %+v", img.Path, img)
}
