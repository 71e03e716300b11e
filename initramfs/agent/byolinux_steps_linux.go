package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/boot/bytesize"
	"github.com/byoi/byoi/initramfs/chroot"
	"github.com/byoi/byoi/initramfs/filecopy"
	"github.com/byoi/byoi/initramfs/preflight"
)

// copy copies the image's files onto the target, reporting bytes.
func (b *byolinux) copy(ctx context.Context) (string, error) {
	r := b.r
	rep := newReporter(r.api, r.env.ProgressEvery, func(s boot.StepID) bool { return r.steps[s] }, nil)
	rep.start(ctx)
	res, err := filecopy.Copy(ctx, b.image, b.target.Root, filecopy.Options{
		Logger:   r.log,
		Progress: func(done, total int64) { rep.update(boot.StepCopy, done, total) },
	})
	rep.finish()
	if err != nil {
		if f := b.src.failure(); f != nil {
			return "", r.imageFailure(f)
		}
		return "", r.internal("Could not copy the image's files: "+err.Error(), err)
	}
	r.log.Info("files copied", "result", fmt.Sprintf("%+v", res), "downloaded", b.virtual.Downloaded(), "refetched", b.virtual.Refetched())
	if r.steps[boot.StepCopy] {
		_ = r.api.ProgressOnce(ctx, agentapi.Progress{Step: boot.StepCopy, Status: boot.StepDoing, BytesDone: res.Bytes, BytesTotal: res.Bytes})
	}
	return fmt.Sprintf("Copied %d files, %d directories, %d links (%s of file data, %s written)",
		res.Files, res.Dirs, res.Symlinks+res.HardLinks, bytesize.Format(res.Bytes), bytesize.Format(res.Written)), nil
}

// verify reads what the copy did not need through the checksum, then lets
// the image go.
func (b *byolinux) verify(ctx context.Context) (string, error) {
	r := b.r
	b.unmountImage()
	res, err := b.virtual.Verify()
	b.closeImage()
	if err != nil {
		return "", r.imageFailure(err)
	}
	r.log.Info("image read", "downloaded", res.Downloaded, "digest", res.Digest)
	if spec := r.task.Spec; spec.ImageCheckSumType != "" {
		return fmt.Sprintf("%s checksum verified (%s downloaded)", spec.ImageCheckSumType, bytesize.Format(res.Downloaded)), nil
	}
	return fmt.Sprintf("No checksum asked (%s downloaded)", bytesize.Format(res.Downloaded)), nil
}

// configure writes /etc/fstab and mdadm.conf.
func (b *byolinux) configure(ctx context.Context) (string, error) {
	written, err := b.target.WriteConfig(ctx)
	if err != nil {
		return "", err
	}
	return "Wrote " + strings.Join(written, " and "), nil
}

// bootloader runs the image's make_image_bootable.sh chrooted, its output
// streamed to the server.
func (b *byolinux) bootloader(ctx context.Context) (string, error) {
	r := b.r
	ship := r.newLogShipper(boot.StepBootloader, "make_image_bootable.sh")
	ship.start(ctx)
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	env := []string{"BYOI_UEFI=" + boolString(b.uefi), "BYOI_DISKS=" + strings.Join(diskPaths(b), " ")}
	// udev's /dev/disk/by-uuid, which the installer has not: without it
	// grub-mkconfig writes root=/dev/md1, and the installed system's
	// initramfs, assembling the array under another number, never finds it.
	links := map[string]string{}
	for _, f := range b.plan.FileSystems {
		links["disk/by-uuid/"+f.UUID] = f.Device
	}
	res, err := chroot.Run(ctx, chroot.Options{Root: b.target.Root, UEFI: b.uefi, Timeout: r.env.ScriptTimeout,
		Cmdline: chroot.ConsoleArgs(r.env.Cmdline), ResolvConf: resolv, Env: env, DevLinks: links, Output: ship.line})
	ship.finish()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s ran in %s (%d lines of output)", chroot.DefaultScript, res.Duration.Round(100e6), res.Lines), nil
}

// configDrive writes the VFAT config drive into its partition at the end
// of the first disk.
func (b *byolinux) configDrive(ctx context.Context) (string, error) {
	r := b.r
	cd := b.plan.ConfigDrive
	if cd == nil || b.drive == nil {
		return "No config drive requested", nil
	}
	f, err := os.OpenFile(cd.Device, os.O_WRONLY, 0)
	if err != nil {
		return "", r.internal("Could not create configdrive on disk.", err)
	}
	defer f.Close()
	buf := make([]byte, cd.Size) // the image, zeros after it
	copy(buf, b.drive)
	if _, err := f.WriteAt(buf, 0); err != nil {
		return "", r.internal("Could not create configdrive on disk.", err)
	}
	if err := f.Sync(); err != nil {
		return "", r.internal("Could not create configdrive on disk.", err)
	}
	return fmt.Sprintf("Config drive (config-2, vfat) in partition %d of %s", cd.Number, b.plan.Disks[0].Path), nil
}

// bootSetup unmounts the target, stops the arrays, and on UEFI checks that
// the loader given (or one it picks: shim, the distribution's GRUB, the
// removable path) is on the first disk's EFI system partition.
func (b *byolinux) bootSetup(ctx context.Context) (string, error) {
	r := b.r
	if err := b.target.Close(); err != nil {
		return "", r.internal("Could not unmount the installed system: "+err.Error(), err)
	}
	b.target = nil
	unix.Sync()
	first := b.plan.Disks[0]
	if !b.uefi {
		return "Next boot: local disk " + first.Path + " (BIOS, boot code in its MBR)", nil
	}
	f, err := os.Open(first.Path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	res, err := preflight.Check(f, preflight.Config{Firmware: preflight.UEFI, EFIBootloaderPath: r.task.Spec.EFIBootloaderPath, Size: first.Size})
	if err != nil {
		return "", err
	}
	b.loader = strings.ReplaceAll(res.Loader, "/", `\`)
	how := "given"
	if res.Picked {
		how = "found on the EFI system partition"
	}
	return fmt.Sprintf("Next boot: local disk %s, UEFI loader %s (%s)", first.Path, b.loader, how), nil
}

func diskPaths(b *byolinux) []string {
	var out []string
	for _, d := range b.plan.Disks {
		out = append(out, d.Path)
	}
	return out
}

func boolString(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// loadModules loads the kernel modules BYOLinux needs, when the kernel has
// a module folder (a kernel with everything built in needs none).
func loadModules(log *slog.Logger, names []string) {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return
	}
	dir, err := modulesDir("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	if err != nil {
		return
	}
	loader, err := newModuleLoader(dir, loadModuleFile, log)
	if err != nil {
		log.Warn("kernel modules unusable", "err", err)
		return
	}
	log.Info("BYOLinux kernel modules loaded", "count", loader.Load(names...))
}
