package e2e

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/distro"
	"github.com/byoi/byoi/initramfs/preflight"
	"github.com/lima-vm/go-qcow2reader"
)

// The real distribution: Debian bookworm's cloud image built by e2e/distro
// from Debian packages (once per machine, cached outside the clone).

const (
	distroSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs e2e@byoi"
	// distroBuildBudget covers a first build of the root file system (the
	// network and a loaded machine: 20-45 min); a cached one takes seconds.
	distroBuildBudget = 90 * time.Minute
	// distroBootBudget: GRUB, the kernel, systemd and cloud-init's four
	// stages under TCG (E2E-NOTES: cloud-init final ~170 s after QEMU start).
	distroBootBudget = 8 * time.Minute
)

// cachedImage builds one of e2e/distro's images once per test binary
// (a cached one takes seconds) and fails the test when it cannot be built.
type cachedImage struct {
	name  string // "debian", "byolinux": timing label and message
	build func(*distro.Builder, context.Context) (distro.Image, error)
	once  sync.Once
	img   distro.Image
	err   error
}

func (c *cachedImage) get(t *testing.T) distro.Image {
	t.Helper()
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), distroBuildBudget)
		defer cancel()
		start := time.Now()
		c.img, c.err = c.build(&distro.Builder{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}, ctx)
		harness.Timing(c.name, "image ready", time.Since(start))
	})
	if c.err != nil {
		t.Fatalf("building the Debian %s image (mmdebstrap, scripts/install-deps.sh test): %v", c.name, c.err)
	}
	return c.img
}

var gptImage = cachedImage{name: "debian", build: (*distro.Builder).GPTImage}

// debianImage returns the cached GPT image, building it the first time.
func debianImage(t *testing.T) distro.Image { return gptImage.get(t) }

// cloudConfig is the user data of the Debian flow: a user with the SSH key,
// and a runcmd that prints on the serial console what cloud-init applied,
// then cloud-init powers the VM off.
const cloudConfig = `#cloud-config
users:
  - name: e2euser
    shell: /bin/bash
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys:
      - ` + distroSSHKey + `
runcmd:
  - [sh, -c, 'echo "BYOI-E2E-RUNCMD host=$(hostname) user=$(getent passwd e2euser | cut -d: -f1,6) key=$(cat /home/e2euser/.ssh/authorized_keys | tr -d "\n") ssh=$(systemctl is-active ssh) net=$(grep -o "Applying network configuration from [a-z]*" /var/log/cloud-init.log | tail -n1 | cut -d" " -f5) nic=$(sed -n "s/^iface \([^ ]*\) inet.*/\1/p" /etc/network/interfaces.d/50-cloud-init | grep -v "^lo$" | head -n1) mac=$(cat /sys/class/net/$(sed -n "s/^iface \([^ ]*\) inet.*/\1/p" /etc/network/interfaces.d/50-cloud-init | grep -v "^lo$" | head -n1)/address) end" > /dev/ttyS0']
power_state:
  mode: poweroff
  delay: now
  timeout: 60
`

// TestDebianImagePreflight runs the pre-flight checks on the real image
// through its qcow2 map: on UEFI without a path they pick shim, with
// Debian's path in another case they find it, on legacy BIOS the BIOS boot
// partition and GRUB's boot code make it bootable.
func TestDebianImagePreflight(t *testing.T) {
	img := debianImage(t)
	f, err := os.Open(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q, err := qcow2reader.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	counted := &countingReader{r: q}
	start := time.Now()
	res, err := preflight.Check(counted, preflight.Config{Firmware: preflight.UEFI, Size: q.Size()})
	took := time.Since(start)
	if err != nil || res.Loader != `\EFI\debian\shimx64.efi` || !res.Picked || res.ESP != 15 {
		t.Errorf("Check(UEFI) = %+v, %v; want shimx64.efi picked on partition 15", res, err)
	}
	// What the check costs: a few small reads (the qcow2 clusters behind them come on top).
	t.Logf("pre-flight on the Debian qcow2: %d reads, %d bytes, %s", counted.reads, counted.bytes, took)
	if counted.bytes > 1<<20 {
		t.Errorf("pre-flight read %d bytes of the virtual disk, want at most 1 MiB", counted.bytes)
	}
	res, err = preflight.Check(q, preflight.Config{Firmware: preflight.UEFI, EFIBootloaderPath: `\efi\DEBIAN\grubx64.efi`, Size: q.Size()})
	if err != nil || res.Loader != `\EFI\debian\grubx64.efi` {
		t.Errorf("Check(UEFI, grubx64) = %+v, %v", res, err)
	}
	if _, err := preflight.Check(q, preflight.Config{Firmware: preflight.BIOS, Size: q.Size()}); err != nil {
		t.Errorf("Check(BIOS) = %v, want bootable", err)
	}
}

// TestCloudInitNetworkData feeds the config drive's network_data.json
// golden files to cloud-init's own OpenStack converter (the one the
// ConfigDrive datasource uses), run from the cached Debian root in a
// chroot, and checks the network configuration it derives.
func TestCloudInitNetworkData(t *testing.T) {
	debianImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root, err := (&distro.Builder{}).Rootfs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const script = `import json, sys
from cloudinit.sources.helpers.openstack import convert_net_json
print(json.dumps(convert_net_json(json.load(sys.stdin), known_macs={"52:54:00:ab:cd:01": "eth0"}), sort_keys=True))`
	tests := []struct {
		golden string
		want   string // the network config (version 1) cloud-init derives, as JSON with sorted keys
	}{
		{"boot_nic_dhcp", `{"config": [{"mac_address": "52:54:00:ab:cd:01", "name": "eth0", "subnets": [{"type": "dhcp4"}], "type": "physical"}], "version": 1}`},
		{"boot_nic_static", `{"config": [{"mac_address": "52:54:00:ab:cd:01", "name": "eth0", "subnets": [{"address": "198.51.100.10", "ipv4": true, "netmask": "255.255.255.0", "routes": [{"gateway": "198.51.100.1", "netmask": "0.0.0.0", "network": "0.0.0.0"}], "type": "static"}], "type": "physical"}, {"address": "198.51.100.53", "type": "nameserver"}, {"address": "198.51.100.54", "type": "nameserver"}], "version": 1}`},
		{"boot_nic_static_without_gateway", `{"config": [{"mac_address": "52:54:00:ab:cd:01", "name": "eth0", "subnets": [{"address": "198.51.100.130", "ipv4": true, "netmask": "255.255.255.128", "type": "static"}], "type": "physical"}], "version": 1}`},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			nd, err := os.ReadFile(filepath.Join(harness.Root, "initramfs/configdrive/testdata", tc.golden, "openstack/latest/network_data.json"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, "chroot", root, "python3", "-c", script)
			cmd.Stdin = strings.NewReader(string(nd))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("cloud-init convert_net_json: %v\n%s", err, out)
			}
			// The NIC is named from known_macs, as cloud-init does with the machine's NICs.
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("cloud-init network config from %s =\n%s\nwant\n%s", tc.golden, got, tc.want)
			}
		})
	}
}

type countingReader struct {
	r interface {
		ReadAt([]byte, int64) (int, error)
	}
	reads, bytes int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	c.bytes += int64(len(p))
	return c.r.ReadAt(p, off)
}

// TestDebianImageDirectBoot boots the cached image straight from its disk,
// without byoi (a throwaway qcow2 overlay): SeaBIOS runs GRUB's boot.img
// from the protective MBR and its core from the BIOS boot partition; OVMF,
// without a boot entry, takes the removable path \EFI\BOOT\BOOTX64.EFI
// (shim → GRUB). Both must reach the Debian kernel on the serial console.
func TestDebianImageDirectBoot(t *testing.T) {
	img := debianImage(t)
	for _, fw := range []Firmware{BIOS, UEFI} {
		t.Run(fw.String(), func(t *testing.T) {
			args := []string{"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "1", "-m", "1024",
				"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot", "-nic", "none",
				"-drive", "if=none,id=d0,format=qcow2,snapshot=on,file=" + img.Path, "-device", "virtio-blk-pci,drive=d0,bootindex=1"}
			if fw == BIOS {
				args[1] = "q35,graphics=off"
			} else {
				vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
				b, err := os.ReadFile(harness.OVMFVars)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(vars, b, 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+harness.OVMFCode,
					"-drive", "if=pflash,format=raw,unit=1,file="+vars)
			}
			vm := startDirectVM(t, "debian-direct-"+fw.String(), args)
			vm.Wait("Linux version", localBudget)
			harness.Timing("debian-direct", fw.String()+" kernel started", vm.Since())
		})
	}
}

// startDirectVM runs QEMU with args outside any namespace (the VM has no
// NIC), with the serial console scanned like StartVM's.
func startDirectVM(t *testing.T, name string, args []string) *VM {
	t.Helper()
	logPath := filepath.Join(harness.Artifacts, name+".serial.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("qemu-system-x86_64", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lf
	vm := &VM{t: t, name: name, cmd: cmd, log: logPath, seen: make(chan struct{}), done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	t.Logf("vm %s: qemu pid %d, serial log %s", name, cmd.Process.Pid, logPath)
	go vm.read(io.TeeReader(stdout, lf), lf)
	t.Cleanup(vm.Kill)
	return vm
}
