package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/boot/bytesize"
	"github.com/byoi/byoi/initramfs/chroot"
	"github.com/byoi/byoi/initramfs/configdrive"
	"github.com/byoi/byoi/initramfs/disk"
	"github.com/byoi/byoi/initramfs/image"
	"github.com/byoi/byoi/initramfs/imagefs"
	"github.com/byoi/byoi/initramfs/nbd"
	"github.com/byoi/byoi/initramfs/storage"
)

// byolinuxModules are the kernel modules the BYOLinux path needs, loaded
// when the kernel has them as modules (built-in ones are skipped). The
// crc32c implementations come first: the installer has no modprobe for the
// kernel to ask for them, and libcrc32c (xfs, btrfs), ext4's metadata
// checksums and raid456 need one.
var byolinuxModules = []string{"crc32c_generic", "crc32c_intel", "nbd", "md_mod", "raid0", "raid1", "raid456", "raid10", "dm_mod",
	"ext4", "xfs", "btrfs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "efivarfs"}

// byolinux is the state of one BYOLinux installation: the image read in
// place and mounted read-only, the target disks partitioned and mounted.
type byolinux struct {
	r       *run
	uefi    bool
	disks   []disk.Disk
	plan    *storage.Plan
	drive   []byte // the config drive image, nil when none is asked
	virtual *image.Virtual
	src     *recordingReader
	fs      imagefs.FS
	dev     *nbd.Device
	image   string // where the image's file system is mounted
	target  *storage.Mounted
	loader  string // UEFI loader found after the script
}

// installBYOLinux runs the BYOLinux steps: inspect (everything that can
// refuse the request, before any disk is touched), partition, copy,
// verify, configure, bootloader, config drive, boot setup.
func (r *run) installBYOLinux(ctx context.Context) error {
	b := &byolinux{r: r}
	defer b.cleanup()
	steps := []struct {
		id boot.StepID
		fn func(context.Context) (string, error)
	}{
		{boot.StepInspect, b.inspect},
		{boot.StepPartition, b.partition},
		{boot.StepCopy, b.copy},
		{boot.StepVerify, b.verify},
		{boot.StepConfigure, b.configure},
		{boot.StepBootloader, b.bootloader},
		{boot.StepConfigDrive, b.configDrive},
		{boot.StepBootSetup, b.bootSetup},
	}
	for _, s := range steps {
		r.step = s.id
		if err := r.report(ctx, agentapi.Progress{Step: s.id, Status: boot.StepDoing}); err != nil {
			return err
		}
		comment, err := s.fn(ctx)
		if err != nil {
			return r.byolinuxFailure(err)
		}
		if err := r.report(ctx, agentapi.Progress{Step: s.id, Status: boot.StepDone, Comment: comment}); err != nil {
			return err
		}
	}
	r.disk = b.disks[0]
	r.task.Spec.EFIBootloaderPath = b.loader
	return r.finish(ctx)
}

// inspect learns the firmware and the disks, plans the layout, opens the
// image, checks its partition and file system, mounts it read-only through
// NBD and checks for the script. Nothing is written to any disk.
func (b *byolinux) inspect(ctx context.Context) (string, error) {
	r := b.r
	spec := r.task.Spec
	b.uefi = isUEFI(r.env.SysRoot)
	loadModules(r.log, byolinuxModules)
	if err := b.findDisks(ctx); err != nil {
		return "", err
	}
	if spec.WantsConfigDrive() {
		c, err := r.configDriveConfig()
		if err != nil {
			return "", r.internal("Could not create configdrive on disk.", err)
		}
		img, err := configdrive.VFAT(c) // VFAT, as OVH writes for BYOLinux
		if err != nil {
			return "", r.internal("Could not create configdrive on disk.", err)
		}
		b.drive = img
	}
	var parts boot.Partitioning
	if spec.Partitioning != nil {
		parts = *spec.Partitioning
	}
	sdisks := make([]storage.Disk, len(b.disks))
	for i, d := range b.disks {
		sdisks[i] = storage.Disk{Path: d.Path, Size: d.Size, SectorSize: d.LogicalSectorSize}
	}
	plan, err := storage.NewPlan(parts, sdisks, storage.Options{UEFI: b.uefi, ConfigDrive: int64(len(b.drive))})
	if err != nil {
		return "", err
	}
	b.plan = plan
	for _, l := range plan.Describe() {
		r.log.Info("layout", "plan", l)
	}
	v, err := image.OpenVirtual(ctx, image.Options{URL: spec.ImageURL, Headers: spec.HTTPHeaders, Type: "qcow2",
		ChecksumType: spec.ImageCheckSumType, Checksum: spec.ImageCheckSum, Client: r.env.Client,
		RetryWait: r.env.ImageRetryWait, Logger: r.log})
	if err != nil {
		return "", r.imageFailure(err)
	}
	b.virtual = v
	b.src = &recordingReader{r: v}
	if b.fs, err = imagefs.Inspect(b.src, v.Size()); err != nil {
		return "", b.readFailure(err)
	}
	if err := b.mountImage(ctx); err != nil {
		return "", err
	}
	if err := imagefs.NoSubvolumes(b.image); err != nil {
		return "", err
	}
	if err := chroot.CheckScript(b.image, chroot.DefaultScript); err != nil {
		return "", err
	}
	fw := "legacy BIOS"
	if b.uefi {
		fw = "UEFI"
	}
	return fmt.Sprintf("Image: qcow2 of %s, %s; %s machine, %s", bytesize.Format(v.Size()), b.fs, fw, describeTargets(plan)), nil
}

// findDisks waits for the disk group's disks to show up.
func (b *byolinux) findDisks(ctx context.Context) error {
	r := b.r
	// One disk matching means the rule selects it: wait for it as BYOI does,
	// then take every disk the rule matches.
	if _, err := r.findDisk(ctx); err != nil {
		return r.internal("No disk to install on: "+err.Error(), err)
	}
	all, err := disk.List(r.env.SysRoot, r.env.DevRoot)
	if err == nil {
		b.disks, err = disk.SelectAll(all, r.task.Disk)
	}
	if err != nil {
		return r.internal("No disk to install on: "+err.Error(), err)
	}
	return nil
}

// mountImage serves the image's file system to the kernel over NBD and
// mounts it read-only (no journal replay) under the work folder.
func (b *byolinux) mountImage(ctx context.Context) error {
	r := b.r
	dev, err := nbd.FreeDevice()
	if err != nil {
		return r.internal("Could not attach the image through NBD: "+err.Error(), err)
	}
	size := b.fs.Size / 512 * 512
	if b.dev, err = nbd.Attach(ctx, dev, nbd.Export{Data: io.NewSectionReader(b.src, b.fs.Offset, size), Size: size}); err != nil {
		return r.internal("Could not attach the image through NBD: "+err.Error(), err)
	}
	b.image = filepath.Join(r.env.WorkDir, "image")
	if err := os.MkdirAll(b.image, 0o755); err != nil {
		return r.internal("Could not create "+b.image+": "+err.Error(), err)
	}
	if err := unix.Mount(b.dev.Path, b.image, b.fs.Type, unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, imagefs.MountOptions(b.fs.Type)); err != nil {
		b.image = ""
		if f := b.src.failure(); f != nil {
			return r.imageFailure(f)
		}
		return r.customer(fmt.Sprintf("image provided holds a %s file system the kernel cannot mount read-only (%v); check it with fsck", b.fs.Type, err), err)
	}
	r.log.Info("image mounted", "device", b.dev.Path, "fs", b.fs.Type, "at", b.image)
	return nil
}

// readFailure words an error that may hide a download failure.
func (b *byolinux) readFailure(err error) error {
	if f := b.src.failure(); f != nil {
		return b.r.imageFailure(f)
	}
	return err
}

// partition applies the plan to the disks and mounts the new file systems.
func (b *byolinux) partition(ctx context.Context) (string, error) {
	r := b.r
	ship := r.newLogShipper(boot.StepPartition, "storage")
	ship.start(ctx)
	root := filepath.Join(r.env.WorkDir, "target")
	if err := os.MkdirAll(root, 0o755); err != nil {
		ship.finish()
		return "", err
	}
	m, err := storage.Apply(ctx, b.plan, root, storage.Exec{Output: ship.line})
	ship.finish()
	if err != nil {
		return "", err
	}
	b.target = m
	return describeTargets(b.plan), nil
}

// describeTargets says what the plan makes: "RAID1 over /dev/vda, /dev/vdb: / ext4, /boot/efi vfat".
func describeTargets(pl *storage.Plan) string {
	var disks, fss []string
	for _, d := range pl.Disks {
		disks = append(disks, d.Path)
	}
	for _, f := range pl.FileSystems {
		fss = append(fss, f.MountPoint+" "+f.Type)
	}
	what := "disk " + disks[0]
	if len(disks) > 1 {
		what = fmt.Sprintf("%d disks (%s), %d RAID arrays", len(disks), strings.Join(disks, ", "), len(pl.Arrays))
	}
	if pl.VG != nil {
		what += fmt.Sprintf(", LVM volume group %s", pl.VG.Name)
	}
	return what + ": " + strings.Join(fss, ", ")
}

// recordingReader remembers the first failure of the image reader, so that
// an I/O error seen by the kernel (through NBD) can be told apart: the
// download or the image, not the file system.
type recordingReader struct {
	r   io.ReaderAt
	mu  sync.Mutex
	err error
}

func (rr *recordingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := rr.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		rr.mu.Lock()
		if rr.err == nil {
			rr.err = err
		}
		rr.mu.Unlock()
	}
	return n, err
}

func (rr *recordingReader) failure() error {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.err
}

// cleanup unmounts and detaches whatever is still up, in reverse order.
func (b *byolinux) cleanup() {
	b.unmountImage()
	b.closeImage()
	if b.target != nil {
		if err := b.target.Close(); err != nil {
			b.r.log.Warn("cleaning up the target", "err", err)
		}
		b.target = nil
	}
}

// unmountImage unmounts the image's file system and detaches NBD.
func (b *byolinux) unmountImage() {
	if b.image != "" {
		if err := unix.Unmount(b.image, 0); err != nil {
			b.r.log.Warn("unmount the image", "err", err)
			unix.Unmount(b.image, unix.MNT_DETACH)
		}
		b.image = ""
	}
	if b.dev != nil {
		if err := b.dev.Close(); err != nil {
			b.r.log.Warn("detach NBD", "err", err)
		}
		b.dev = nil
	}
}

// closeImage ends the download.
func (b *byolinux) closeImage() {
	if b.virtual != nil {
		b.virtual.Close()
		b.virtual = nil
	}
}
