package e2e

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Small BYOLinux test images, built on this machine from a static busybox:
// a file system (made with mkfs, filled through a loop mount), put in a
// GPT partition or left bare, converted to qcow2.

// testScript is make_image_bootable.sh of the test images: it prints what
// the installer gives it, leaves a marker, and exits with code.
func testScript(code int) string {
	return `#!/bin/sh
echo "byoi-test-script: start"
echo "cmdline=$(cat /proc/cmdline)"
echo "BYOI_UEFI=$BYOI_UEFI BYOI_DISKS=$BYOI_DISKS"
if test -d /sys/firmware/efi; then echo "efi=yes"; else echo "efi=no"; fi
echo "--- /etc/fstab"; cat /etc/fstab
echo "--- mdadm.conf"; cat /etc/mdadm/mdadm.conf 2>/dev/null
echo "resolv: $(cat /etc/resolv.conf)"
touch /root/byoi-script-ran
for i in $(seq 1 30); do echo "line $i"; done
` + map[bool]string{true: "echo 'byoi-test-script: failing on purpose'\nexit " + fmt.Sprint(code) + "\n", false: "echo 'byoi-test-script: done'\n"}[code != 0]
}

// imageTree fills root like a small system; dataMiB of random files go
// under /data. It writes /byoi-manifest (sha256 and path of every regular
// file) last.
func imageTree(t *testing.T, root, script string, dataMiB int) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc/mdadm", "root/.ovh", "usr/bin", "home/user", "srv", "var/lib/app", "boot", "dev", "tmp", "proc", "sys", "run", "data"} {
		must(os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	bb, err := exec.LookPath("busybox")
	must(err)
	b, err := os.ReadFile(bb)
	must(err)
	must(os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755))
	for _, a := range []string{"sh", "cat", "echo", "seq", "test", "touch", "ls"} {
		must(os.Symlink("busybox", filepath.Join(root, "bin", a)))
	}
	if script != "" {
		must(os.WriteFile(filepath.Join(root, "root/.ovh/make_image_bootable.sh"), []byte(script), 0o755))
	}
	files := map[string]string{
		"etc/fstab":         "UUID=0b4d7e1e-0000-4000-8000-000000000000 / ext4 errors=remount-ro 0 1\nproc /proc proc defaults 0 0\n",
		"etc/hostname":      "image\n",
		"etc/resolv.conf":   "nameserver 192.0.2.53\n",
		"home/user/notes":   "on /home\n",
		"srv/www":           "on /srv\n",
		"var/lib/app/state": "on /var\n",
		"boot/vmlinuz-test": strings.Repeat("kernel", 1000),
	}
	for p, c := range files {
		must(os.WriteFile(filepath.Join(root, p), []byte(c), 0o644))
	}
	must(os.WriteFile(filepath.Join(root, "usr/bin/pinger"), []byte("#!/bin/sh\necho ping\n"), 0o755))
	capv := make([]byte, 20)
	binary.LittleEndian.PutUint32(capv[0:], 0x02000001)
	binary.LittleEndian.PutUint32(capv[4:], 1<<13) // CAP_NET_RAW
	must(unix.Lsetxattr(filepath.Join(root, "usr/bin/pinger"), "security.capability", capv, 0))
	must(os.Link(filepath.Join(root, "etc/hostname"), filepath.Join(root, "etc/hostname.hardlink")))
	must(os.Symlink("/etc/hostname", filepath.Join(root, "etc/hostname.symlink")))
	must(unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	f, err := os.Create(filepath.Join(root, "var/lib/app/sparse"))
	must(err)
	must(f.Truncate(256 << 20))
	_, err = f.WriteAt([]byte("end"), 256<<20-3)
	must(err)
	must(f.Close())
	rng := rand.NewChaCha8([32]byte{9})
	buf := make([]byte, 1<<20)
	for i := 0; i < dataMiB; i += 64 {
		f, err := os.Create(filepath.Join(root, "data", fmt.Sprintf("blob%03d", i/64)))
		must(err)
		for j := 0; j < min(64, dataMiB-i); j++ {
			rng.Read(buf)
			_, err := f.Write(buf)
			must(err)
		}
		must(f.Close())
	}
	var manifest []string
	must(filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if strings.HasPrefix(rel, "lost+found") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		io.Copy(h, f)
		manifest = append(manifest, fmt.Sprintf("%x  %s", h.Sum(nil), rel))
		return nil
	}))
	sort.Strings(manifest)
	must(os.WriteFile(filepath.Join(root, "byoi-manifest"), []byte(strings.Join(manifest, "\n")+"\n"), 0o644))
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fsImage makes a file system of type fsType in a file of size bytes and
// fills it with fill (through a loop mount).
func fsImage(t *testing.T, dir, name, fsType string, size int64, fill func(root string)) string {
	t.Helper()
	p := filepath.Join(dir, name+".fs")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	switch fsType {
	case "vfat":
		mustRun(t, "mkfs.vfat", p)
		return p
	case "ext4":
		mustRun(t, "mkfs.ext4", "-q", "-F", p)
	default:
		mustRun(t, "mkfs."+fsType, "-q", "-f", p)
	}
	dev := strings.TrimSpace(mustRun(t, "losetup", "--find", "--show", p))
	defer mustRun(t, "losetup", "--detach", dev)
	mnt := t.TempDir()
	if err := unix.Mount(dev, mnt, fsType, 0, ""); err != nil {
		t.Fatalf("mount %s: %v", p, err)
	}
	fill(mnt)
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	return p
}

// gptDisk puts file systems in GPT partitions (1 MiB aligned, in order) of a
// raw disk with 1 MiB free at the end.
func gptDisk(t *testing.T, dir, name string, parts ...string) string {
	t.Helper()
	p := filepath.Join(dir, name+".raw")
	var sizes []int64
	total := int64(2 << 20)
	for _, fsf := range parts {
		st, err := os.Stat(fsf)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, (st.Size()+(1<<20)-1)>>20<<20)
		total += sizes[len(sizes)-1]
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(total)
	f.Close()
	args := []string{"-o"}
	start := int64(1 << 20)
	for i, s := range sizes {
		args = append(args, "-n", fmt.Sprintf("%d:%d:%d", i+1, start/512, (start+s)/512-1))
		start += s
	}
	mustRun(t, "sgdisk", append(args, p)...)
	start = 1 << 20
	for i, fsf := range parts {
		mustRun(t, "dd", "if="+fsf, "of="+p, "bs=1M", "seek="+fmt.Sprint(start>>20), "conv=notrunc,sparse", "status=none")
		start += sizes[i]
	}
	return p
}

// qcow2 converts a raw file (compressed when asked) and pads the result to
// whole MiB, the size a VM disk holding it has.
func qcow2(t *testing.T, raw string, compress bool) string {
	t.Helper()
	out := strings.TrimSuffix(strings.TrimSuffix(raw, ".raw"), ".fs") + ".qcow2"
	args := []string{"convert", "-f", "raw", "-O", "qcow2"}
	if compress {
		args = append(args, "-c")
	}
	mustRun(t, "qemu-img", append(args, raw, out)...)
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(out, (st.Size()+(1<<20)-1)>>20<<20); err != nil {
		t.Fatal(err)
	}
	return out
}
