package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/boot/bytesize"
	"github.com/byoi/byoi/initramfs/configdrive"
	"github.com/byoi/byoi/initramfs/disk"
	"github.com/byoi/byoi/initramfs/image"
	"github.com/byoi/byoi/initramfs/preflight"
)

// image runs download, check and write through image.Install, with byte
// counts sent in the background.
func (r *run) image(ctx context.Context) error {
	spec := r.task.Spec
	comments := map[boot.StepID]string{boot.StepWrite: "Writing image to " + describeDisk(r.disk)}
	rep := newReporter(r.api, r.env.ProgressEvery, func(s boot.StepID) bool { return r.steps[s] }, comments)
	if err := r.report(ctx, agentapi.Progress{Step: boot.StepDownload, Status: boot.StepDoing}); err != nil {
		return err
	}
	t, err := image.OpenTarget(r.disk.Path)
	if err != nil {
		r.step = boot.StepWrite
		return image.WriteError(spec.ImageType, fmt.Errorf("open target disk %s: %w", r.disk.Path, err))
	}
	defer t.Close()
	rep.start(ctx)
	res, err := image.Install(ctx, image.Options{
		URL: spec.ImageURL, Headers: spec.HTTPHeaders, Type: spec.ImageType,
		ChecksumType: spec.ImageCheckSumType, Checksum: spec.ImageCheckSum,
		Client: r.env.Client, RetryWait: r.env.ImageRetryWait,
		Progress: rep.update, Logger: r.log,
		Firmware: r.firmware(), EFIBootloaderPath: spec.EFIBootloaderPath,
	}, t)
	rep.finish()
	if err != nil {
		return err
	}
	if err := t.Close(); err != nil {
		r.step = boot.StepWrite
		return fmt.Errorf("close %s: %w", r.disk.Path, err)
	}
	r.log.Info("image written", "format", res.Format, "compression", res.Compression, "virtualSize", res.VirtualSize,
		"downloaded", res.Downloaded, "written", res.Written, "zeroed", res.Zeroed, "digest", res.Digest)
	if res.Loader != "" { // reported in done: the server records it on the machine
		r.task.Spec.EFIBootloaderPath, r.picked = res.Loader, res.LoaderPicked
	}
	finals := []agentapi.Progress{
		{Step: boot.StepDownload, BytesDone: res.Downloaded, BytesTotal: res.Downloaded},
		{Step: boot.StepCheck, BytesDone: res.VirtualSize, BytesTotal: res.VirtualSize, Comment: checkComment(res, spec)},
		{Step: boot.StepPreflight, BytesDone: 1, BytesTotal: 1, Comment: preflightComment(res, r.firmware())},
		{Step: boot.StepWrite, BytesDone: res.VirtualSize, BytesTotal: res.VirtualSize, Comment: comments[boot.StepWrite]},
	}
	if p, ok := rep.last(boot.StepDownload); ok && p.BytesTotal > 0 {
		finals[0].BytesDone, finals[0].BytesTotal = p.BytesTotal, p.BytesTotal
	}
	for _, p := range finals {
		r.step = p.Step
		p.Status = boot.StepDone
		if err := r.report(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// checkComment says what the check step found.
func checkComment(res image.Result, spec boot.InstallSpec) string {
	f := res.Format
	if res.Compression != "" {
		f += " (" + res.Compression + ")"
	}
	s := "Image format " + f
	if spec.ImageCheckSumType != "" {
		s += ", " + spec.ImageCheckSumType + " checksum verified"
	}
	return s
}

// preflightComment says what pre-flight found.
func preflightComment(res image.Result, fw preflight.Firmware) string {
	switch {
	case res.PreflightNote != "":
		return "Image checked before writing; " + res.PreflightNote
	case res.Loader != "" && res.LoaderPicked:
		return fmt.Sprintf("Image can boot: UEFI loader %s picked from its EFI system partition (partition %d)", res.Loader, res.ESP)
	case res.Loader != "":
		return fmt.Sprintf("Image can boot: UEFI loader %s found on its EFI system partition (partition %d)", res.Loader, res.ESP)
	case fw == preflight.BIOS:
		return "Image can boot: legacy BIOS boot code found"
	}
	return "Image checked before writing"
}

// firmware says how this machine boots: UEFI when the kernel has EFI
// runtime services (/sys/firmware/efi), else legacy BIOS.
func (r *run) firmware() preflight.Firmware {
	if isUEFI(r.env.SysRoot) {
		return preflight.UEFI
	}
	return preflight.BIOS
}

// isUEFI reports whether the installer was booted through UEFI.
func isUEFI(sysRoot string) bool {
	_, err := os.Stat(filepath.Join(sysRoot, "firmware/efi"))
	return err == nil
}

// describeDisk gives "/dev/vda (virtio, 10 GiB)".
func describeDisk(d disk.Disk) string {
	kind := d.Model
	if kind == "" {
		switch {
		case strings.HasPrefix(d.Name, "vd"):
			kind = "virtio"
		case strings.HasPrefix(d.Name, "nvme"):
			kind = "NVMe"
		case strings.HasPrefix(d.Name, "sd"):
			kind = "SCSI/SATA"
		case strings.HasPrefix(d.Name, "mmcblk"):
			kind = "MMC"
		default:
			kind = d.Name
		}
	}
	return fmt.Sprintf("%s (%s, %s)", d.Path, kind, bytesize.Format(d.Size))
}

// openDisk opens the target for the partition-table steps.
func (r *run) openDisk() (*os.File, error) {
	f, err := os.OpenFile(r.disk.Path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r.disk.Path, err)
	}
	return f, nil
}

// fixGPT re-reads the partition table and moves a GPT backup header to the
// real end of the disk.
func (r *run) fixGPT(context.Context) (string, error) {
	f, err := r.openDisk()
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := disk.Reread(f); err != nil {
		return "", err
	}
	moved, err := disk.FixGPT(f, r.disk.LogicalSectorSize)
	if err != nil {
		return "", fmt.Errorf("fix GPT on %s: %w", r.disk.Path, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", r.disk.Path, err)
	}
	if err := disk.Reread(f); err != nil {
		return "", err
	}
	if moved {
		return "Backup GPT header moved to the end of " + r.disk.Path, nil
	}
	return "No GPT backup header to move", nil
}

// configDriveConfig is what the config drive holds for this task.
func (r *run) configDriveConfig() (configdrive.Config, error) {
	spec := r.task.Spec
	c := configdrive.Config{
		UUID:     uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("byoi:%s:task:%d", r.task.Machine, r.task.ID))).String(),
		Hostname: spec.Hostname,
		Meta:     spec.ConfigDriveMetadata,
		UserData: spec.UserData(),
	}
	if c.Hostname == "" {
		c.Hostname = r.task.Machine
	}
	if spec.SSHKey != "" {
		c.PublicKeys = []string{spec.SSHKey}
	}
	if spec.ConfigDriveUserData == "" {
		c.UserData = nil
	}
	if n := r.task.Network; n != nil {
		bootNIC := *n
		if r.cfg.BootIf != nil { // the NIC this installer booted from
			bootNIC.MAC = r.cfg.BootIf.String()
		}
		nic, err := configdrive.FromAgent(&bootNIC)
		if err != nil {
			return c, fmt.Errorf("config drive network: %w", err)
		}
		c.Network = nic
	}
	return c, nil
}

// configDrive adds the config-2 partition when the spec asks for one.
func (r *run) configDrive(context.Context) (string, error) {
	if !r.task.Spec.WantsConfigDrive() {
		return "No config drive requested", nil
	}
	c, err := r.configDriveConfig()
	if err != nil {
		return "", err
	}
	sector := r.disk.LogicalSectorSize
	img, fs, err := configdrive.Image(c, sector)
	if err != nil {
		return "", fmt.Errorf("build config drive: %w", err)
	}
	f, err := r.openDisk()
	if err != nil {
		return "", err
	}
	defer f.Close()
	const mib = 1 << 20
	size := (int64(len(img)) + mib - 1) / mib * mib
	part, err := disk.AddPartition(f, sector, size, "config-2")
	if err != nil {
		return "", fmt.Errorf("add config drive partition on %s: %w", r.disk.Path, err)
	}
	if int64(len(img)) > part.Size {
		return "", fmt.Errorf("config drive of %d bytes does not fit partition %d (%d bytes)", len(img), part.Number, part.Size)
	}
	if _, err := f.WriteAt(img, part.Start); err != nil {
		return "", fmt.Errorf("write config drive on %s: %w", r.disk.Path, err)
	}
	// Zero the rest: no stale signatures behind the file system.
	zero := make([]byte, 64<<10)
	for off := int64(len(img)); off < part.Size; off += int64(len(zero)) {
		n := min(int64(len(zero)), part.Size-off)
		if _, err := f.WriteAt(zero[:n], part.Start+off); err != nil {
			return "", fmt.Errorf("write config drive on %s: %w", r.disk.Path, err)
		}
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("sync %s: %w", r.disk.Path, err)
	}
	if err := disk.Reread(f); err != nil {
		return "", err
	}
	return fmt.Sprintf("Config drive (config-2, %s) in partition %d of %s", fs, part.Number, r.disk.Path), nil
}

// bootSetup has nothing to write: the byoi server switches the machine to
// local boot when it hears done. It says what the machine will boot.
func (r *run) bootSetup(context.Context) (string, error) {
	if p := r.task.Spec.EFIBootloaderPath; p != "" && r.picked {
		return "Next boot: local disk, UEFI loader " + p + " (picked from the image's EFI system partition)", nil
	} else if p != "" {
		return "Next boot: local disk, UEFI loader " + p, nil
	}
	return "Next boot: local disk", nil
}
