package agent

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/initramfs/disk"
)

func TestDescribeDisk(t *testing.T) {
	for _, tc := range []struct {
		d    disk.Disk
		want string
	}{
		{disk.Disk{Name: "vda", Path: "/dev/vda", Size: 10 << 30}, "/dev/vda (virtio, 10.0 GiB)"},
		{disk.Disk{Name: "nvme0n1", Path: "/dev/nvme0n1", Size: 1600321314816}, "/dev/nvme0n1 (NVMe, 1.5 TiB)"},
		{disk.Disk{Name: "sda", Path: "/dev/sda", Size: 512, Model: "QEMU HARDDISK"}, "/dev/sda (QEMU HARDDISK, 512 B)"},
	} {
		if got := describeDisk(tc.d); got != tc.want {
			t.Errorf("describeDisk(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestPickInterface(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	ifaces := []net.Interface{
		{Index: 1, Name: "lo", Flags: net.FlagLoopback},
		{Index: 2, Name: "eth0", HardwareAddr: mac("52:54:00:00:00:01")},
		{Index: 3, Name: "eth1", HardwareAddr: mac("52:54:00:00:00:02")},
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		want   string
		wantOK bool
	}{
		{"BOOTIF", Config{BootIf: mac("52:54:00:00:00:02")}, "eth1", true},
		{"BOOTIF absent yet", Config{BootIf: mac("52:54:00:00:00:09")}, "", false},
		{"ip= device", Config{Static: &StaticIP{Device: "eth1"}}, "eth1", true},
		{"first ethernet", Config{}, "eth0", true},
	} {
		got, ok := pickInterface(ifaces, tc.cfg)
		if ok != tc.wantOK || got.Name != tc.want {
			t.Errorf("pickInterface(%s) = %q, %v; want %q, %v", tc.name, got.Name, ok, tc.want, tc.wantOK)
		}
	}
}

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	nc := netConfig{DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("198.51.100.54")}, Domain: "lab.example"}
	if err := writeResolvConf(filepath.Join(dir, "etc"), nc); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "etc", "resolv.conf"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# written by byoi-agent\nsearch lab.example\nnameserver 198.51.100.53\nnameserver 198.51.100.54\n"
	if string(got) != want {
		t.Errorf("resolv.conf = %q, want %q", got, want)
	}
}

func TestModuleLoader(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "lib/modules/6.1.0-test-amd64")
	sys := filepath.Join(root, "sys")
	files := map[string]string{
		filepath.Join(dir, "modules.dep"): "kernel/virtio_ring.ko:\nkernel/virtio.ko: kernel/virtio_ring.ko\n" +
			"kernel/virtio_pci.ko: kernel/virtio.ko kernel/virtio_ring.ko\nkernel/virtio_net.ko.xz: kernel/virtio.ko kernel/virtio_ring.ko\n" +
			"kernel/e1000e.ko:\nkernel/broken.ko:\n",
		filepath.Join(dir, "modules.alias"): "alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\nalias virtio:d00000001v* virtio_net\n" +
			"alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\n",
		filepath.Join(dir, "modules.builtin"):                           "kernel/sd_mod.ko\n",
		filepath.Join(sys, "bus/pci/devices/0000:00:03.0/modalias"):     "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n",
		filepath.Join(sys, "bus/pci/devices/0000:00:1f.2/modalias"):     "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01\n",
		filepath.Join(sys, "bus/virtio/devices/virtio0/modalias.later"): "virtio:d00000001v00001AF4\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := modulesDir(filepath.Join(root, "lib/modules"), "6.1.0-other")
	if err != nil || got != dir {
		t.Fatalf("modulesDir(other release) = %q, %v; want the only folder %q", got, err, dir)
	}
	var loaded []string
	load := func(p string) error {
		rel, _ := filepath.Rel(dir, p)
		loaded = append(loaded, rel)
		if rel == "kernel/broken.ko" {
			return errors.New("exec format error")
		}
		return nil
	}
	m, err := newModuleLoader(dir, load, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("newModuleLoader: %v", err)
	}
	if n := m.Load("sd_mod", "broken", "nosuch"); n != 1 {
		t.Errorf("Load(builtin, broken, unknown) = %d, want 1 attempt", n)
	}
	if n := m.Coldplug(sys); n != 3 {
		t.Errorf("Coldplug round 1 = %d, want 3 (virtio_pci and deps)", n)
	}
	// virtio_pci "found" the virtio device: it shows up on the virtio bus.
	if err := os.Rename(filepath.Join(sys, "bus/virtio/devices/virtio0/modalias.later"), filepath.Join(sys, "bus/virtio/devices/virtio0/modalias")); err != nil {
		t.Fatal(err)
	}
	if n := m.Coldplug(sys); n != 1 {
		t.Errorf("Coldplug round 2 = %d, want 1 (virtio_net)", n)
	}
	if n := m.Coldplug(sys); n != 0 {
		t.Errorf("Coldplug round 3 = %d, want 0", n)
	}
	want := []string{"kernel/broken.ko", "kernel/virtio_ring.ko", "kernel/virtio.ko", "kernel/virtio_pci.ko", "kernel/virtio_net.ko.xz"}
	if diff := cmp.Diff(want, loaded); diff != "" {
		t.Errorf("modules loaded mismatch (-want +got):\n%s", diff)
	}
}

// TestSetMemoryLimit: the installer runs with MemoryLimit, unless
// GOMEMLIMIT says otherwise.
func TestSetMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	t.Setenv("GOMEMLIMIT", "")
	if got := SetMemoryLimit(); got != MemoryLimit {
		t.Errorf("SetMemoryLimit() = %d, want %d", got, MemoryLimit)
	}
	debug.SetMemoryLimit(1 << 40)
	t.Setenv("GOMEMLIMIT", "1TiB")
	if got := SetMemoryLimit(); got != 1<<40 {
		t.Errorf("SetMemoryLimit() with GOMEMLIMIT set = %d, want it left at %d", got, int64(1<<40))
	}
}
