package build

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// realTree returns the Debian package tree and kernel modules `make
// fetch` unpacked (BYOI_DEBIAN_ROOT and BYOI_MODULES_DIR point at them).
func realTree(t *testing.T) (root, modules string) {
	t.Helper()
	root = os.Getenv("BYOI_DEBIAN_ROOT")
	if root == "" {
		root, _ = filepath.Abs("../../third_party/debian/root")
	}
	modules = os.Getenv("BYOI_MODULES_DIR")
	if modules == "" {
		m, _ := filepath.Glob("../../third_party/linux/lib/modules/*")
		if len(m) > 0 {
			modules, _ = filepath.Abs(m[0])
		}
	}
	_, err := os.Stat(filepath.Join(root, "sbin/mdadm"))
	if err != nil || modules == "" {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("BYOI_INTEGRATION=1 but no Debian package tree at %s or no kernel modules (%q): run make fetch", root, modules)
		}
		t.Skipf("no Debian package tree at %s: run make fetch", root)
	}
	return root, modules
}

// TestLayersRealTree packs the tools and rescue layers from the fetched
// Debian packages and runs every program in them, chrooted into what the
// kernel would unpack: the dynamic loader must find every library of
// every ELF file, and the storage tools must work on image files.
func TestLayersRealTree(t *testing.T) {
	root, modules := realTree(t)
	dir := t.TempDir()
	archives := map[string]string{}
	for _, l := range []struct{ name, compression string }{{"tools", Gzip}, {"rescue", Zstd}} {
		out := filepath.Join(dir, l.name+".img")
		rep, err := BuildLayer(LayerOptions{Name: l.name, Root: root, ModulesDir: modules, Output: out, Compression: l.compression})
		if err != nil {
			t.Fatalf("BuildLayer(%s): %v", l.name, err)
		}
		archives[out] = l.compression
		t.Logf("%s: %d files, %d libraries, %d modules, %.1f MiB (%.1f MiB uncompressed, %s)", l.name, rep.Files,
			len(rep.Libraries), len(rep.Modules), float64(rep.Bytes)/(1<<20), float64(rep.RawBytes)/(1<<20), l.compression)
	}
	tools, rescue := filepath.Join(dir, "tools.img"), filepath.Join(dir, "rescue.img")
	toolsRecs := readArchive(t, tools, Gzip)
	for name, r := range readArchive(t, rescue, Zstd) {
		if r.Mode&modeType != modeDir {
			if _, dup := toolsRecs[name]; dup {
				t.Errorf("rescue layer repeats %s from the tools layer", name)
			}
		}
	}
	for _, n := range []string{"lib/x86_64-linux-gnu/libc.so.6", "lib64/ld-linux-x86-64.so.2", "sbin/mdadm", "etc/lvm/lvm.conf"} {
		if _, ok := toolsRecs[n]; !ok {
			t.Errorf("tools layer lacks %s", n)
		}
	}

	if os.Geteuid() != 0 {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatal("BYOI_INTEGRATION=1 but not root: the layers are checked in a chroot")
		}
		t.Skip("not root: cannot chroot into the unpacked layers")
	}
	sys := filepath.Join(dir, "root")
	unpack(t, sys, archives, tools, rescue)
	for _, d := range []string{"dev", "proc"} { // initrd.img has them
		if err := os.MkdirAll(filepath.Join(sys, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("proc", filepath.Join(sys, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(sys, "proc"), unix.MNT_DETACH) })
	for _, d := range []struct {
		name  string
		minor uint32
	}{{"null", 3}, {"zero", 5}, {"urandom", 9}} {
		if err := unix.Mknod(filepath.Join(sys, "dev", d.name), unix.S_IFCHR|0o666, int(unix.Mkdev(1, d.minor))); err != nil {
			t.Fatal(err)
		}
	}
	checkLoads(t, sys)
	checkTools(t, sys)
}

// checkLoads asks the layer's own dynamic loader to load every ELF
// program and library under sys, chrooted there.
func checkLoads(t *testing.T, sys string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(sys, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (p == filepath.Join(sys, "proc") || p == filepath.Join(sys, "dev")) {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".ko") {
			return nil
		}
		f, err := elf.Open(p)
		if err != nil {
			return nil // not ELF
		}
		f.Close()
		rel := "/" + strings.TrimPrefix(p, sys+"/")
		if strings.Contains(rel, "/ld-linux-x86-64.so") {
			return nil
		}
		out, err := exec.Command("chroot", sys, "/lib64/ld-linux-x86-64.so.2", "--list", rel).CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("not found")) {
			t.Errorf("chroot: ld.so --list %s: %v\n%s", rel, err, out)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Errorf("checked %d ELF files, want the layers' 100 or more", n)
	}
	t.Logf("the loader resolved every library of %d ELF files", n)
}

// toolsScript runs the storage and rescue tools on image files.
const toolsScript = `set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
truncate -s 400M /a.img /b.img /c.img /d.img
mkfs.ext4 -q -F -L root /a.img && e2fsck -fn /a.img >/dev/null && tune2fs -l /a.img | grep -q 'volume name:.*root'
resize2fs -P /a.img >/dev/null 2>&1
mkfs.xfs -q -f /b.img && xfs_repair -n /b.img >/dev/null 2>&1
mkfs.btrfs -q -f /c.img && btrfs check /c.img >/dev/null 2>&1
mkfs.vfat -n ESP /d.img >/dev/null && fsck.vfat -n /d.img >/dev/null
test "$(blkid -o value -s TYPE /a.img) $(blkid -o value -s TYPE /b.img) $(blkid -o value -s TYPE /c.img) $(blkid -o value -s TYPE /d.img)" = "ext4 xfs btrfs vfat"
truncate -s 64M /disk.img
sgdisk -o -n 1:0:+16M -t 1:ef00 -n 2:0:0 /disk.img >/dev/null && sgdisk -v /disk.img | grep -q 'No problems found'
test "$(sfdisk -d /disk.img | grep -c '^/disk.img')" = 2
wipefs -n /a.img | grep -q ext4
mdadm --version 2>&1 | grep -q v4 && lvm version | grep -q 'LVM version' && dmsetup --version >/dev/null
kmod --version >/dev/null && lsblk --version >/dev/null && mount --version >/dev/null && losetup --version >/dev/null
ssh-keygen -q -t ed25519 -N '' -f /hostkey && ssh-keygen -lf /hostkey.pub | grep -q SHA256:
sshd -V 2>&1 | grep -q OpenSSH
curl --version | grep -q OpenSSL && ip -V >/dev/null && ping -V >/dev/null
echo data > /f && dd if=/f of=/g status=none && diff /f /g
echo TOOLS-OK
`

func checkTools(t *testing.T, sys string) {
	t.Helper()
	cmd := exec.Command("chroot", sys, "/bin/bash", "-c", toolsScript)
	cmd.Env = []string{"HOME=/root", "LANG=C"}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("TOOLS-OK")) {
		t.Fatalf("tools in the chroot: %v\n%s", err, out)
	}
}
