package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/ipxe"
)

// concatInitrds writes initrd.img, tools.img and rescue.img one after the
// other, as iPXE hands several initrds to the kernel.
func concatInitrds(t *testing.T, h *Harness, out string) {
	t.Helper()
	var all []byte
	for _, n := range []string{"initrd.img", "tools.img", "rescue.img"} {
		b, err := os.ReadFile(filepath.Join(h.Boot, n))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if err := os.WriteFile(out, all, 0o644); err != nil {
		t.Fatal(err)
	}
}

var announceRE = regexp.MustCompile(`rescue: ssh root@(\S+) \(host key (SHA256:\S+)\)`)

// checkAnnounced compares the console line, the ready report and the host
// keys, writes a known_hosts file from the reported keys and returns it.
func checkAnnounced(t *testing.T, l *rescueLab, line string, rr agentapi.RescueReady) string {
	t.Helper()
	m := announceRE.FindStringSubmatch(line)
	if m == nil || m[1] != rescueIP {
		t.Fatalf("console line %q, want rescue: ssh root@%s (host key SHA256:…)", line, rescueIP)
	}
	if len(rr.Addresses) == 0 || rr.Addresses[0] != rescueIP {
		t.Errorf("reported addresses %v, want %s first", rr.Addresses, rescueIP)
	}
	if len(rr.HostKeys) != 2 || len(rr.HostPublicKeys) != 2 || !strings.HasSuffix(rr.HostKeys[0], " "+m[2]) {
		t.Fatalf("reported host keys %v (%d public), want 2 (Ed25519, ECDSA) with the console's %s first", rr.HostKeys, len(rr.HostPublicKeys), m[2])
	}
	var known strings.Builder
	for i, pub := range rr.HostPublicKeys {
		f := filepath.Join(l.dir, "hostkey.pub")
		if err := os.WriteFile(f, []byte(pub+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(context.Background(), "ssh-keygen", "-l", "-E", "sha256", "-f", f)
		if err != nil {
			t.Fatal(err)
		}
		// "256 SHA256:… no comment (ED25519)" → "ED25519 SHA256:…"
		fields := strings.Fields(out)
		want := strings.Trim(fields[len(fields)-1], "()") + " " + fields[1]
		if rr.HostKeys[i] != want {
			t.Errorf("reported host key %d = %q, ssh-keygen -l of its public key says %q", i, rr.HostKeys[i], want)
		}
		known.WriteString(rescueIP + " " + pub + "\n")
	}
	p := filepath.Join(l.dir, "known_hosts")
	if err := os.WriteFile(p, []byte(known.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRescueSSH boots the rescue system with -kernel/-initrd (the three
// layers concatenated), DHCP from dnsmasq, and the test's rescue
// endpoints; logs in with OpenSSH's ssh and the machine's key (checking the
// reported host keys), sees the disk with lsblk, runs the tools layer's
// RAID, LVM and file system tools on two more disks, and checks that sshd
// comes back when killed and that other keys and passwords are refused.
func TestRescueSSH(t *testing.T) {
	h := harness
	l := newRescueLab(t, h)
	initrd := filepath.Join(l.dir, "rescue-initrds.img")
	concatInitrds(t, h, initrd)
	sys := l.disk("sys.raw", 256<<20, true)
	m1, m2 := l.disk("m1.raw", 448<<20, false), l.disk("m2.raw", 448<<20, false)
	cmdline := strings.Join([]string{"console=ttyS0", "BOOTIF=01-" + strings.ReplaceAll(rescueMAC, ":", "-"),
		agentapi.ParamServer + "=http://" + ServerIP + ":" + httpPort, agentapi.ParamMode + "=" + agentapi.ModeRescue,
		agentapi.ParamToken + "=" + l.token}, " ")
	vm := l.startQEMU("rescue-ssh", []string{"-kernel", h.Kernel, "-initrd", initrd, "-append", cmdline}, sys, m1, m2)

	line := vm.Wait("rescue: ssh root@", 6*time.Minute)
	up := vm.Since()
	rr := l.waitReady(vm, time.Minute)
	known := checkAnnounced(t, l, line, rr)
	h.Timing("rescue-ssh", "sshd up", up)

	out, err := l.ssh(l.key, known, "lsblk -n -l -o NAME,TYPE,SIZE")
	if err != nil {
		t.Fatalf("ssh lsblk: %v\n%s", err, out)
	}
	h.Timing("rescue-ssh", "ssh lsblk", vm.Since())

	for _, want := range []string{"vda disk 256M", "vda1 part 64M", "vda2 part", "vdb disk 448M", "vdc disk 448M"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), want) && !containsLine(out, want) {
			t.Errorf("lsblk over ssh lacks %q:\n%s", want, out)
		}
	}

	// The tools layer in a VM: RAID1, LVM on it, xfs and btrfs on the
	// volumes, vfat and ext4 on the GPT disk, each mounted (the kernel
	// loads md, dm, xfs, btrfs … through modprobe), written and checked.
	out, err = l.ssh(l.key, known, toolsScriptVM)
	if err != nil || !strings.Contains(out, "TOOLS-VM-OK") {
		t.Fatalf("storage tools over ssh: %v\n%s", err, out)
	}
	for _, want := range []string{"md0 raid1", "vg0-x lvm", "vg0-b lvm", "type /dev/vg0/x xfs", "type /dev/vg0/b btrfs",
		"type /dev/vda1 vfat", "type /dev/vda2 ext4", "active raid1 vdc[1] vdb[0]"} {
		if !containsLine(out, want) {
			t.Errorf("tools output lacks %q:\n%s", want, out)
		}
	}
	h.Timing("rescue-ssh", "tools done", vm.Since())

	// Refused: a key byoi did not hand out, and passwords.
	if out, err := l.ssh(l.other, known, "true"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with another key: %v %q, want Permission denied", err, out)
	}
	if out, err := l.ssh(l.key, known, "true", "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"); err == nil ||
		!strings.Contains(out, "Permission denied") {
		t.Errorf("ssh with a password: %v %q, want Permission denied", err, out)
	}

	// sshd is supervised: killed, it is started again.
	if out, err := l.ssh(l.key, known, "kill $(cat /run/sshd.pid)"); err != nil {
		t.Fatalf("kill sshd: %v\n%s", err, out)
	}
	vm.Wait("sshd exited, starting it again", time.Minute)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := l.ssh(l.key, known, "echo back")
		if err == nil && strings.Contains(out, "back") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh after sshd was killed: %v\n%s", err, out)
		}
		time.Sleep(2 * time.Second)
	}
	if strings.Contains(strings.Join(vm.Lines(), "\n"), "FAILED") {
		t.Errorf("the serial console shows a failure:\n%s", vm.tail(40))
	}
}

// containsLine reports whether a line of out, with its fields joined by
// single spaces, contains want.
func containsLine(out, want string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(strings.Join(strings.Fields(line), " "), want) {
			return true
		}
	}
	return false
}

// toolsScriptVM runs in the rescue system. lsblk shows no file system
// types there (it asks udev, which does not run): blkid does.
const toolsScriptVM = `set -eu
mdadm --create /dev/md0 --run --quiet --level=1 --raid-devices=2 --metadata=1.0 /dev/vdb /dev/vdc
pvcreate -q /dev/md0
vgcreate -q vg0 /dev/md0
lvcreate -q -y -L 320M -n x vg0
lvcreate -q -y -l 100%FREE -n b vg0
mkfs.xfs -q /dev/vg0/x
mkfs.btrfs -q /dev/vg0/b >/dev/null
mkfs.vfat -n ESP /dev/vda1 >/dev/null
mkfs.ext4 -q -F /dev/vda2
for d in /dev/vg0/x /dev/vg0/b /dev/vda1 /dev/vda2; do
	mkdir -p /mnt$d
	mount $d /mnt$d
	echo "data $d" > /mnt$d/f
	sync
	grep -q "data $d" /mnt$d/f
	echo "type $d $(blkid -o value -s TYPE $d)"
done
lsblk -n -l -o NAME,TYPE
cat /proc/mdstat
for d in /dev/vg0/x /dev/vg0/b /dev/vda1 /dev/vda2; do umount /mnt$d; done
xfs_repair -n /dev/vg0/x >/dev/null 2>&1
e2fsck -fn /dev/vda2 >/dev/null 2>&1
fsck.vfat -n /dev/vda1 >/dev/null
vgchange -q -an vg0
mdadm --stop /dev/md0 2>/dev/null
echo TOOLS-VM-OK
`

// TestRescueUEFIiPXE boots the rescue system the way machines do on UEFI:
// OVMF starts trixie's ipxe.efi (from a disk here, with an autoexec.ipxe
// that does DHCP and chains the test server), which runs the rescue
// script rendered by ipxe.Script and loads the kernel and three initrds,
// handed to the kernel through the EFI initrd media device path. The test
// then logs in and runs lsblk.
func TestRescueUEFIiPXE(t *testing.T) {
	h := harness
	l := newRescueLab(t, h)
	base := "http://" + ServerIP + ":" + httpPort
	var buf bytes.Buffer
	err := ipxe.Script(&buf, boot.Action{Kind: boot.ActionRescue, Machine: "rescue-e2e"}, ipxe.ScriptParams{
		BaseURL: base, Firmware: boot.FirmwareEFI, Arch: boot.ArchX86_64, MAC: rescueMAC,
		KernelURL: base + "/files/vmlinuz", InitrdURL: base + "/files/initrd.img",
		InitrdURLs: []string{base + "/files/tools.img", base + "/files/rescue.img"},
		Token:      l.token, ExtraArgs: []string{"console=ttyS0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.script = buf.Bytes()

	// A GPT disk whose ESP holds ipxe.efi as the removable-media loader.
	disk := l.disk("esp.raw", 256<<20, true)
	auto := filepath.Join(l.dir, "autoexec.ipxe")
	if err := os.WriteFile(auto, []byte("#!ipxe\ndhcp && chain "+base+"/rescue.ipxe || echo autoexec: FAILED\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]string{
		{"mkfs.fat", "-F", "16", "-n", "ESP", "--offset", "2048", disk, "65536"},
		{"mmd", "-i", disk + "@@1M", "::/EFI", "::/EFI/BOOT"},
		{"mcopy", "-i", disk + "@@1M", filepath.Join(h.Boot, "ipxe.efi"), "::/EFI/BOOT/BOOTX64.EFI"},
		{"mcopy", "-i", disk + "@@1M", auto, "::/autoexec.ipxe"},
	} {
		if _, err := run(context.Background(), s[0], s[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	vars := filepath.Join(l.dir, "vars.fd")
	b, err := os.ReadFile(h.OVMFVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, b, 0o644); err != nil {
		t.Fatal(err)
	}
	vm := l.startQEMU("rescue-uefi-ipxe", []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + h.OVMFCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
	}, disk)
	vm.Wait("byoi: rescue system for rescue-e2e", 3*time.Minute)
	h.Timing("rescue-uefi-ipxe", "rescue script", vm.Since())
	line := vm.Wait("rescue: ssh root@", 6*time.Minute)
	h.Timing("rescue-uefi-ipxe", "sshd up", vm.Since())
	rr := l.waitReady(vm, time.Minute)
	known := checkAnnounced(t, l, line, rr)
	out, err := l.ssh(l.key, known, "lsblk -n -l -o NAME,TYPE,SIZE; cat /proc/cmdline")
	if err != nil {
		t.Fatalf("ssh lsblk: %v\n%s", err, out)
	}
	h.Timing("rescue-uefi-ipxe", "ssh lsblk", vm.Since())
	for _, want := range []string{"vda disk 256M", "vda1 part 64M", "vda2 part", "byoi.mode=rescue"} {
		if !containsLine(out, want) {
			t.Errorf("ssh output lacks %q:\n%s", want, out)
		}
	}
	// The three initrds reached the kernel: the agent (initrd.img), mdadm
	// (tools.img) and sshd (rescue.img) are all there.
	if out, err := l.ssh(l.key, known, "test -x /init && test -x /sbin/mdadm && test -x /usr/sbin/sshd && echo LAYERS-OK"); err != nil ||
		!strings.Contains(out, "LAYERS-OK") {
		t.Errorf("layers on the rescue system: %v\n%s", err, out)
	}
}
