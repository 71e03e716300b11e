package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/initramfs/disk"
)

// Runner runs a program to the end and returns its output (stdout and
// stderr together).
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Exec runs programs from PATH, with stdin from /dev/null, udev left out
// of LVM (the installer runs none), and each output line passed to Output
// when it is set.
type Exec struct {
	Output func(line string)
}

// Run implements Runner.
func (e Exec) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "DM_DISABLE_UDEV=1", "LVM_SUPPRESS_FD_WARNINGS=1",
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin:"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if e.Output != nil {
		e.Output("$ " + name + " " + strings.Join(args, " "))
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			if l != "" {
				e.Output(l)
			}
		}
	}
	return out, err
}

// CommandError is a program that failed while applying a plan.
type CommandError struct {
	What   string // e.g. "create RAID1 array /dev/md0 (efi)"
	Cmd    string
	Output string // its last lines
	Err    error
}

func (e *CommandError) Error() string {
	s := fmt.Sprintf("%s: %s failed: %v", e.What, e.Cmd, e.Err)
	if e.Output != "" {
		s += ": " + e.Output
	}
	return s
}

func (e *CommandError) Unwrap() error { return e.Err }

// lastLines keeps the end of a program's output for messages.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// Mounted is an applied plan, mounted under Root.
type Mounted struct {
	Root   string
	Plan   *Plan
	run    Runner
	mounts []string // in mount order
}

// Apply partitions the disks, creates the arrays, the volume group and the
// file systems of pl, and mounts them under root (which must exist). On
// error, what was mounted is unmounted and the arrays stopped; the disks
// keep what was written.
func Apply(ctx context.Context, pl *Plan, root string, run Runner) (*Mounted, error) {
	m := &Mounted{Root: root, Plan: pl, run: run}
	err := m.apply(ctx)
	if err != nil {
		if cerr := m.Close(); cerr != nil {
			err = fmt.Errorf("%w (cleaning up: %v)", err, cerr)
		}
	}
	return m, err
}

func (m *Mounted) apply(ctx context.Context) error {
	pl := m.Plan
	// Every disk must be free (not mounted, not in an array) before the
	// first one is written.
	for _, d := range pl.Disks {
		f, err := os.OpenFile(d.Path, os.O_RDWR|os.O_EXCL, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w (is it mounted, or part of a running array or volume group?)", d.Path, err)
		}
		f.Close()
	}
	for _, d := range pl.Disks {
		if err := partition(d); err != nil {
			return err
		}
	}
	for _, d := range pl.Disks {
		for _, p := range d.Parts {
			if err := waitDevice(ctx, p.Device); err != nil {
				return err
			}
			if err := wipe(p.Device, p.Size); err != nil {
				return err
			}
		}
	}
	for _, a := range pl.Arrays {
		args := []string{"--create", a.Device, "--run", "--level=" + strconv.Itoa(a.Level), "--raid-devices=" + strconv.Itoa(len(a.Members)),
			"--metadata=" + a.Metadata, "--homehost=<none>", "--name=" + a.Name}
		if err := m.cmd(ctx, fmt.Sprintf("create RAID%d array %s (%s)", a.Level, a.Device, a.Name), "mdadm", append(args, a.Members...)...); err != nil {
			return err
		}
	}
	// The initial resync (RAID1/10) or recovery (RAID5/6) would compete
	// with the copy for the disks and the CPU: it waits, and resumes from
	// where the superblock says when the installed system assembles the
	// arrays. Everything the installer writes goes to every member anyway.
	for _, a := range pl.Arrays {
		freeze(a.Device)
	}
	if vg := pl.VG; vg != nil {
		if err := m.lvm(ctx, vg); err != nil {
			return err
		}
	}
	for _, f := range pl.FileSystems {
		name, args := mkfs(f)
		if err := m.cmd(ctx, fmt.Sprintf("create %s file system for %s on %s", f.Type, f.MountPoint, f.Device), name, args...); err != nil {
			return err
		}
	}
	for _, f := range pl.FileSystems {
		if f.Type == "swap" {
			continue
		}
		dir := filepath.Join(m.Root, f.MountPoint)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create mount point %s: %w", dir, err)
		}
		if err := unix.Mount(f.Device, dir, f.Type, 0, ""); err != nil {
			return fmt.Errorf("mount %s (%s) on %s: %w", f.Device, f.Type, dir, err)
		}
		m.mounts = append(m.mounts, dir)
	}
	return nil
}

// freeze stops an array's background resync or recovery for now (best
// effort: an array without redundancy has none).
func freeze(dev string) {
	_ = os.WriteFile(filepath.Join("/sys/block", filepath.Base(dev), "md/sync_action"), []byte("frozen"), 0)
}

// cmd runs a program, turning a failure into a *CommandError.
func (m *Mounted) cmd(ctx context.Context, what, name string, args ...string) error {
	out, err := m.run.Run(ctx, name, args...)
	if err != nil {
		return &CommandError{What: what, Cmd: name + " " + strings.Join(args, " "), Output: lastLines(out, 5), Err: err}
	}
	return nil
}

// lvm creates the physical volume, the group and its logical volumes.
func (m *Mounted) lvm(ctx context.Context, vg *VolumeGroup) error {
	if err := os.MkdirAll("/run/lock", 0o755); err != nil {
		return err
	}
	if err := m.cmd(ctx, "create LVM physical volume on "+vg.PV, "lvm", "pvcreate", "-ff", "-y", vg.PV); err != nil {
		return err
	}
	if err := m.cmd(ctx, "create LVM volume group "+vg.Name, "lvm", "vgcreate", "-y", vg.Name, vg.PV); err != nil {
		return err
	}
	for _, lv := range vg.LVs {
		size := []string{"-l", "100%FREE"}
		if lv.Size > 0 {
			size = []string{"-L", strconv.FormatInt(lv.Size, 10) + "b"}
		}
		args := append([]string{"lvcreate", "-y", "-W", "y", "-Z", "y", "-n", lv.Name}, append(size, vg.Name)...)
		if err := m.cmd(ctx, "create LVM logical volume "+lv.Name, "lvm", args...); err != nil {
			return err
		}
	}
	return nil
}

// mkfs returns the program and arguments that make f with its UUID.
func mkfs(f FileSystem) (string, []string) {
	switch f.Type {
	case "ext4":
		// orphan_file (e2fsprogs 1.47) is unknown to the GRUB and e2fsck of
		// most distributions still in use.
		return "mkfs.ext4", []string{"-F", "-q", "-U", f.UUID, "-O", "^orphan_file", f.Device}
	case "xfs":
		return "mkfs.xfs", []string{"-f", "-q", "-m", "uuid=" + f.UUID, f.Device}
	case "btrfs":
		return "mkfs.btrfs", []string{"-f", "-q", "-U", f.UUID, f.Device}
	case "vfat":
		return "mkfs.vfat", []string{"-F", "32", "-i", strings.ReplaceAll(f.UUID, "-", ""), f.Device}
	}
	return "mkswap", []string{"-U", f.UUID, f.Device}
}

// partition wipes the start and end of a disk and writes its new GPT.
func partition(d DiskPlan) error {
	f, err := os.OpenFile(d.Path, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", d.Path, err)
	}
	defer f.Close()
	if err := zero(f, 0, mib); err != nil {
		return err
	}
	if err := zero(f, d.Size/mib*mib-mib, d.Size-(d.Size/mib*mib-mib)); err != nil {
		return err
	}
	parts := make([]disk.NewPartition, len(d.Parts))
	for i, p := range d.Parts {
		parts[i] = p.NewPartition
	}
	if _, err := disk.CreateGPT(f, d.SectorSize, parts); err != nil {
		return fmt.Errorf("partition %s: %w", d.Path, err)
	}
	return f.Close()
}

// wipe zeroes the first and last MiB of a new partition: old RAID, LVM and
// file system signatures at the same offsets must not come back.
func wipe(dev string, size int64) error {
	f, err := os.OpenFile(dev, os.O_WRONLY|os.O_EXCL, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()
	n := min(size, mib)
	if err := zero(f, 0, n); err != nil {
		return err
	}
	if err := zero(f, size-n, n); err != nil {
		return err
	}
	return f.Close()
}

func zero(f *os.File, off, n int64) error {
	if _, err := f.WriteAt(make([]byte, n), off); err != nil {
		return fmt.Errorf("wipe %s at %d: %w", f.Name(), off, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return nil
}

// waitDevice waits for the kernel (devtmpfs) to create a partition's node.
func waitDevice(ctx context.Context, dev string) error {
	for i := 0; ; i++ {
		if fi, err := os.Stat(dev); err == nil && fi.Mode()&os.ModeDevice != 0 {
			return nil
		}
		if i >= 200 {
			return fmt.Errorf("%s did not appear within 10 s of writing the partition table", dev)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close unmounts the file systems (in reverse order), deactivates the
// volume group and stops the arrays, so that their superblocks are clean
// (no resync from the start on the first boot).
func (m *Mounted) Close() error {
	var errs []error
	for i := len(m.mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(m.mounts[i], 0); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m.mounts[i], err))
		}
	}
	m.mounts = nil
	ctx := context.Background()
	if m.Plan.VG != nil {
		if out, err := m.run.Run(ctx, "lvm", "vgchange", "-an", m.Plan.VG.Name); err != nil && !bytes.Contains(out, []byte("not found")) {
			errs = append(errs, fmt.Errorf("deactivate volume group %s: %v: %s", m.Plan.VG.Name, err, lastLines(out, 3)))
		}
	}
	for i := len(m.Plan.Arrays) - 1; i >= 0; i-- {
		a := m.Plan.Arrays[i]
		if _, err := os.Stat(a.Device); err != nil {
			continue
		}
		if out, err := m.run.Run(ctx, "mdadm", "--stop", a.Device); err != nil && !bytes.Contains(out, []byte("No such")) {
			errs = append(errs, fmt.Errorf("stop %s: %v: %s", a.Device, err, lastLines(out, 3)))
		}
	}
	return errors.Join(errs...)
}
