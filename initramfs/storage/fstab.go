package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Fstab returns the image's /etc/fstab (old, possibly empty) rewritten for
// the plan: byoi's entries first, by UUID; then the image's lines, except
// that a line mounting one of the plan's mount points, or any swap or
// block device (UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/…) of the
// machine the image was built on, is kept as a comment.
func (pl *Plan) Fstab(old string) string {
	var b strings.Builder
	b.WriteString("# /etc/fstab written by byoi for this machine's layout (file systems by UUID).\n")
	for _, f := range pl.FileSystems {
		b.WriteString(fstabLine(f) + "\n")
	}
	mine := map[string]bool{}
	for _, f := range pl.FileSystems {
		mine[f.MountPoint] = true
	}
	if strings.TrimSpace(old) == "" {
		return b.String()
	}
	b.WriteString("\n# From the image's /etc/fstab:\n")
	sc := bufio.NewScanner(strings.NewReader(old))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			b.WriteString(line + "\n")
			continue
		}
		if mine[fields[1]] || fields[2] == "swap" || isBlockSpec(fields[0]) {
			b.WriteString("# byoi (device of the image's build machine): " + line + "\n")
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func isBlockSpec(spec string) bool {
	for _, p := range []string{"UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "/dev/"} {
		if strings.HasPrefix(spec, p) {
			return true
		}
	}
	return false
}

// fstabLine is the fstab entry of a planned file system, with the options
// and fsck passes Debian's installer uses.
func fstabLine(f FileSystem) string {
	opts, pass := "defaults", 2
	switch f.Type {
	case "ext4":
		if f.MountPoint == "/" {
			opts, pass = "errors=remount-ro", 1
		}
	case "xfs", "btrfs":
		pass = 0 // their fsck does nothing at boot
	case "vfat":
		opts, pass = "umask=0077", 1
	case "swap":
		return fmt.Sprintf("UUID=%s none swap sw 0 0", f.UUID)
	}
	return fmt.Sprintf("UUID=%s %s %s %s 0 %d", f.UUID, f.MountPoint, f.Type, opts, pass)
}

// MdadmConf returns the image's mdadm.conf (old, possibly empty) with its
// ARRAY lines replaced by scan, the output of `mdadm --detail --scan` for
// the plan's arrays; "" when the plan has no array.
func (pl *Plan) MdadmConf(old, scan string) string {
	if len(pl.Arrays) == 0 {
		return ""
	}
	var b strings.Builder
	hasDevice := false
	for _, line := range strings.Split(strings.TrimRight(old, "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "ARRAY" {
			continue
		}
		if len(f) > 0 && f[0] == "DEVICE" {
			hasDevice = true
		}
		if line != "" || b.Len() > 0 {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		b.WriteString("# mdadm.conf written by byoi\nHOMEHOST <system>\nMAILADDR root\n")
	}
	if !hasDevice {
		b.WriteString("DEVICE partitions\n")
	}
	b.WriteString("# Arrays created by byoi:\n")
	names := map[string]string{}
	for _, a := range pl.Arrays {
		names[a.Device] = "/dev/md/" + a.Name
	}
	for _, l := range strings.Split(strings.TrimSpace(scan), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "ARRAY" {
			continue
		}
		if n, ok := names[f[1]]; ok { // the installed system names them
			f[1] = n
		}
		// A RAID5/6 array being built shows its recovering member as a
		// spare: not a spare the installed system should expect.
		f = slices.DeleteFunc(f, func(w string) bool { return strings.HasPrefix(w, "spares=") })
		b.WriteString(strings.Join(f, " ") + "\n")
	}
	return b.String()
}

// WriteConfig writes the target's /etc/fstab and, when the plan has arrays,
// mdadm.conf (/etc/mdadm/mdadm.conf when the image has /etc/mdadm, as on
// Debian and Ubuntu, else /etc/mdadm.conf), keeping what the image's files
// say besides devices.
func (m *Mounted) WriteConfig(ctx context.Context) ([]string, error) {
	etc := filepath.Join(m.Root, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return nil, err
	}
	var written []string
	old, _ := os.ReadFile(filepath.Join(etc, "fstab"))
	if err := writeFile(filepath.Join(etc, "fstab"), m.Plan.Fstab(string(old))); err != nil {
		return nil, err
	}
	written = append(written, "/etc/fstab")
	if len(m.Plan.Arrays) == 0 {
		return written, nil
	}
	scan, err := m.run.Run(ctx, "mdadm", "--detail", "--scan")
	if err != nil {
		return written, &CommandError{What: "list the RAID arrays for mdadm.conf", Cmd: "mdadm --detail --scan", Output: lastLines(scan, 5), Err: err}
	}
	conf := "/etc/mdadm.conf"
	if fi, err := os.Stat(filepath.Join(etc, "mdadm")); err == nil && fi.IsDir() {
		conf = "/etc/mdadm/mdadm.conf"
	}
	old, _ = os.ReadFile(filepath.Join(m.Root, conf))
	if err := writeFile(filepath.Join(m.Root, conf), m.Plan.MdadmConf(string(old), string(scan))); err != nil {
		return written, err
	}
	return append(written, conf), nil
}

// writeFile replaces a file (mode 0644) through a temporary one.
func writeFile(path, content string) error {
	tmp := path + ".byoi-tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
