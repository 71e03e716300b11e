package kmod

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testDep = `kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko

kernel/drivers/crypto/crc32c-intel.ko:
`

func TestName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"kernel/drivers/net/virtio_net.ko", "virtio_net"},
		{"kernel/drivers/block/virtio_blk.ko.xz", "virtio_blk"},
		{"kernel/x/crc32c-intel.ko.zst", "crc32c_intel"},
		{"crc32c-intel", "crc32c_intel"},
		{"ahci", "ahci"},
	} {
		if got := Name(tc.in); got != tc.want {
			t.Errorf("Name(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClosure(t *testing.T) {
	d, err := ParseDep(strings.NewReader(testDep))
	if err != nil {
		t.Fatalf("ParseDep: %v", err)
	}
	for _, tc := range []struct {
		name    string
		modules []string
		want    []string
		wantErr error
	}{
		{
			name:    "leaf",
			modules: []string{"failover"},
			want:    []string{"kernel/net/core/failover.ko"},
		},
		{
			name:    "deps first",
			modules: []string{"virtio_net"},
			want: []string{
				"kernel/drivers/net/net_failover.ko" /* needs failover first */, "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/net/virtio_net.ko",
			},
		},
		{
			name:    "shared deps once, dash name",
			modules: []string{"virtio_blk", "virtio_net", "crc32c-intel"},
			want: []string{
				"kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/block/virtio_blk.ko.xz",
				"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
				"kernel/drivers/crypto/crc32c-intel.ko",
			},
		},
		{name: "unknown", modules: []string{"nosuch"}, wantErr: ErrUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.Closure(tc.modules)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Closure(%v) error = %v, want %v", tc.modules, err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if tc.name == "deps first" {
				// Check the order property rather than one exact order.
				checkOrder(t, d, got)
				if len(got) != 5 {
					t.Errorf("Closure(%v) = %v, want 5 files", tc.modules, got)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Closure(%v) mismatch (-want +got):\n%s", tc.modules, diff)
			}
		})
	}
}

// checkOrder fails when a file comes before one of its dependencies.
func checkOrder(t *testing.T, d Deps, paths []string) {
	t.Helper()
	pos := map[string]int{}
	for i, p := range paths {
		pos[p] = i
	}
	for i, p := range paths {
		e, _ := d.byPath(p)
		for _, dep := range e.Deps {
			j, ok := pos[dep]
			if !ok || j > i {
				t.Errorf("closure %v: %s comes before its dependency %s", paths, p, dep)
			}
		}
	}
}

func TestClosureLoop(t *testing.T) {
	d, err := ParseDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Closure([]string{"a"}); err == nil || !strings.Contains(err.Error(), "loop") {
		t.Errorf("Closure(loop) error = %v, want a dependency loop error", err)
	}
}

func TestParseDepErrors(t *testing.T) {
	for _, in := range []string{"no colon here\n", ": x.ko\n", "README: x.ko\n"} {
		if _, err := ParseDep(strings.NewReader(in)); err == nil {
			t.Errorf("ParseDep(%q) = nil error, want an error", in)
		}
	}
}

func TestMatch(t *testing.T) {
	aliases, err := ParseAlias(strings.NewReader(`# Aliases extracted from modules themselves.
alias virtio:d00000001v* virtio_net
alias virtio:d00000002v* virtio_blk
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias pci:v*d*sv*sd*bc01sc06i01* ahci
alias pci:v00008086d00002922sv*sd*bc*sc*i* ahci
alias fs-vfat vfat
`))
	if err != nil {
		t.Fatalf("ParseAlias: %v", err)
	}
	for _, tc := range []struct {
		modalias string
		want     []string
	}{
		{"virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		{"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01\n", []string{"ahci"}},
		{"pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00", nil},
		{"", nil},
	} {
		if diff := cmp.Diff(tc.want, Match(aliases, tc.modalias)); diff != "" {
			t.Errorf("Match(%q) mismatch (-want +got):\n%s", tc.modalias, diff)
		}
	}
	if _, err := ParseAlias(strings.NewReader("alias onlytwo\n")); err == nil {
		t.Errorf("ParseAlias(two fields) = nil error, want an error")
	}
	if _, err := ParseAlias(strings.NewReader("alias pci:[ x\n")); err == nil {
		t.Errorf("ParseAlias(bad glob) = nil error, want an error")
	}
}

// TestRealModules reads the installed kernel's index and a real module.
func TestRealModules(t *testing.T) {
	// make unit points BYOI_MODULES_DIR at the kernel it fetched.
	pattern := "/lib/modules/*/modules.dep"
	if d := os.Getenv("BYOI_MODULES_DIR"); d != "" {
		pattern = filepath.Join(d, "modules.dep")
	}
	dirs, _ := filepath.Glob(pattern)
	if len(dirs) == 0 {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("BYOI_INTEGRATION=1 but no %s: run make fetch, or install linux-image-amd64", pattern)
		}
		t.Skip("no kernel modules installed")
	}
	dir := filepath.Dir(dirs[0])
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := ParseDep(f)
	if err != nil {
		t.Fatalf("ParseDep(%s): %v", dir, err)
	}
	paths, err := d.Closure([]string{"virtio_net", "mlx5_core", "nvme"})
	if err != nil {
		t.Fatalf("Closure: %v", err)
	}
	checkOrder(t, d, paths)
	ice, err := d.Closure([]string{"ice"})
	if err != nil {
		t.Fatalf("Closure(ice): %v", err)
	}
	b, err := ReadFile(filepath.Join(dir, ice[len(ice)-1]))
	if err != nil {
		t.Fatal(err)
	}
	fw, err := Firmware(b)
	if err != nil {
		t.Fatalf("Firmware(ice): %v", err)
	}
	if len(fw) == 0 || !strings.HasPrefix(fw[0], "intel/ice/") {
		t.Errorf("Firmware(ice) = %v, want intel/ice/… files", fw)
	}
}

func FuzzParseDep(f *testing.F) {
	f.Add(testDep)
	f.Add("a.ko: b.ko\nb.ko: a.ko\n")
	f.Add("x.ko:\n:\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseDep(strings.NewReader(in))
		if err != nil {
			return
		}
		for name := range d {
			paths, err := d.Closure([]string{name})
			if err == nil && len(paths) == 0 {
				t.Fatalf("Closure(%q) = no files and no error", name)
			}
		}
	})
}

func FuzzParseAlias(f *testing.F) {
	f.Add("alias virtio:d00000001v* virtio_net\n", "virtio:d00000001v00001AF4")
	f.Add("alias pci:v*d*sv*sd*bc01sc06i01* ahci\n", "pci:")
	f.Fuzz(func(t *testing.T, in, modalias string) {
		a, err := ParseAlias(strings.NewReader(in))
		if err != nil {
			return
		}
		Match(a, modalias)
	})
}
