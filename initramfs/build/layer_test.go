package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/u-root/u-root/pkg/cpio"
)

// hostTree builds a small package tree from the host's true, dash, loader
// and libc, laid out as Debian bookworm's packages ship them.
func hostTree(t *testing.T) string {
	t.Helper()
	truePath, interp := hostELF(t, "true")
	dash, _ := hostELF(t, "dash")
	libc, err := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Skipf("no host libc: %v", err)
	}
	realInterp, err := filepath.EvalSymlinks(interp)
	if err != nil {
		t.Fatal(err)
	}
	dir := makeTree(t, map[string]string{
		"lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"bin/sh":                     "dash",
		"sbin/lvcreate":              "lvm",
		"sbin/lvs":                   "lvm",
	})
	copyFile(t, truePath, filepath.Join(dir, "bin/true"), 0o755)
	copyFile(t, truePath, filepath.Join(dir, "sbin/lvm"), 0o755)
	copyFile(t, dash, filepath.Join(dir, "bin/dash"), 0o755)
	copyFile(t, realInterp, filepath.Join(dir, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), 0o755)
	copyFile(t, libc, filepath.Join(dir, "lib/x86_64-linux-gnu/libc.so.6"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "sbin/fsadm"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuildLayerFake(t *testing.T) {
	root := hostTree(t)
	modules, _ := fakeKernel(t)
	lower := LayerSpec{Name: "lower", Files: []string{"/bin/true"}, Modules: []string{"virtio"}}
	upper := LayerSpec{Name: "upper", Below: []string{"lower"}, Files: []string{"/sbin/lv*", "/sbin/fsadm"},
		Modules: []string{"virtio_net", "virtio_blk"}, Links: map[string]string{"/sbin/vgs": "lvm"},
		Extra: map[string][]byte{"/etc/lvm/lvm.conf": []byte("devices {}\n")}}
	lookup := func(n string) (LayerSpec, error) {
		if n == "lower" {
			return lower, nil
		}
		return Layer(n)
	}
	out := filepath.Join(t.TempDir(), "upper.img")
	rep, err := buildLayer(LayerOptions{Spec: &upper, Root: root, ModulesDir: modules, BaseModules: []string{"virtio_ring"},
		Output: out, Compression: Zstd}, lookup)
	if err != nil {
		t.Fatalf("BuildLayer(upper): %v", err)
	}
	recs := readArchive(t, out, Zstd)
	base := "lib/modules/6.1.0-test-amd64/"
	// The loader, libc and virtio are in the layer below, virtio_ring in
	// the initrd; dash comes in for fsadm's "#!/bin/sh".
	want := []string{
		"bin", "bin/dash", "bin/sh", "etc", "etc/lvm", "etc/lvm/lvm.conf",
		"lib", "lib/modules", "lib/modules/6.1.0-test-amd64", base + "kernel", base + "kernel/drivers",
		base + "kernel/drivers/net", base + "kernel/drivers/net/virtio_net.ko",
		base + "modules.alias", base + "modules.builtin", base + "modules.dep",
		"sbin", "sbin/fsadm", "sbin/lvcreate", "sbin/lvm", "sbin/lvs", "sbin/vgs",
	}
	if diff := cmp.Diff(want, sortedNames(recs)); diff != "" {
		t.Errorf("layer files mismatch (-want +got):\n%s", diff)
	}
	for name, target := range map[string]string{"bin/sh": "dash", "sbin/lvcreate": "lvm", "sbin/vgs": "lvm"} {
		r := recs[name]
		if r.Mode&modeType != modeLink || content(t, r) != target {
			t.Errorf("%s = mode %o → %q, want a symbolic link to %q", name, r.Mode, content(t, r), target)
		}
	}
	if r := recs["sbin/lvm"]; r.Mode != modeFile|0o755 {
		t.Errorf("sbin/lvm mode = %o, want %o", r.Mode, modeFile|0o755)
	}
	// modules.dep replaces the initrd's: it covers what is below too.
	wantDep := "kernel/drivers/virtio/virtio_ring.ko:\n" +
		"kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n" +
		"kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
	if got := content(t, recs[base+"modules.dep"]); got != wantDep {
		t.Errorf("modules.dep = %q, want %q", got, wantDep)
	}
	wantRep := Report{Output: out, KernelRelease: "6.1.0-test-amd64", Files: len(want),
		Modules: []string{"virtio_net"}, Builtin: []string{"virtio_blk"}}
	rep.Bytes, rep.RawBytes = 0, 0
	if diff := cmp.Diff(wantRep, rep); diff != "" {
		t.Errorf("BuildLayer report mismatch (-want +got):\n%s", diff)
	}

	// The lower layer alone carries the loader and libc.
	lowerOut := filepath.Join(t.TempDir(), "lower.img")
	rep, err = buildLayer(LayerOptions{Spec: &lower, Root: root, ModulesDir: modules, BaseModules: []string{"virtio_ring"},
		Output: lowerOut, Compression: None}, lookup)
	if err != nil {
		t.Fatalf("BuildLayer(lower): %v", err)
	}
	if diff := cmp.Diff([]string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"}, rep.Libraries); diff != "" {
		t.Errorf("BuildLayer(lower) libraries mismatch (-want +got):\n%s", diff)
	}
	lrecs := readArchive(t, lowerOut, None)
	for _, n := range []string{"bin/true", "lib64/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "lib/x86_64-linux-gnu/libc.so.6"} {
		if _, ok := lrecs[n]; !ok {
			t.Errorf("BuildLayer(lower) lacks %s", n)
		}
	}
}

func TestBuildLayerErrors(t *testing.T) {
	root := hostTree(t)
	modules, _ := fakeKernel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "x.img")
	spec := func(s LayerSpec) *LayerSpec { return &s }
	for _, tc := range []struct {
		name    string
		o       LayerOptions
		wantErr string
	}{
		{"no layer", LayerOptions{Root: root, Output: out}, "no layer named"},
		{"unknown layer", LayerOptions{Name: "nosuch", Root: root, Output: out}, "unknown"},
		{"no root", LayerOptions{Name: "tools", Output: out}, "no package tree"},
		{"root missing", LayerOptions{Name: "tools", Root: filepath.Join(dir, "nope"), Output: out}, "is not a folder"},
		{"no output", LayerOptions{Spec: spec(LayerSpec{Name: "s"}), Root: root}, "no output file"},
		{"bad compression", LayerOptions{Spec: spec(LayerSpec{Name: "s"}), Root: root, Output: out, Compression: "lz4"}, "unknown compression"},
		{"modules without dir", LayerOptions{Spec: spec(LayerSpec{Name: "s", Modules: []string{"virtio"}}), Root: root, Output: out}, "no modules dir"},
		{"missing file", LayerOptions{Spec: spec(LayerSpec{Name: "s", Files: []string{"/sbin/mdadm"}}), Root: root, Output: out}, "/sbin/mdadm"},
		{"pattern matches nothing", LayerOptions{Spec: spec(LayerSpec{Name: "s", Files: []string{"/sbin/md*"}}), Root: root, Output: out}, "matches nothing"},
		{"folder", LayerOptions{Spec: spec(LayerSpec{Name: "s", Files: []string{"/sbin"}}), Root: root, Output: out}, "not a regular file"},
		{"unknown below", LayerOptions{Spec: spec(LayerSpec{Name: "s", Below: []string{"nosuch"}}), Root: root, Output: out}, "below"},
		{"unknown module", LayerOptions{Spec: spec(LayerSpec{Name: "s", Modules: []string{"nosuch"}}), Root: root, ModulesDir: modules,
			BaseModules: []string{"virtio"}, Output: out}, "module nosuch"},
		{"base module unknown to the kernel", LayerOptions{Spec: spec(LayerSpec{Name: "s", Modules: []string{"virtio"}}), Root: root,
			ModulesDir: modules, Output: out}, "modules loaded before: module virtio_pci"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BuildLayer(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("BuildLayer(%s) error = %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("BuildLayer(%s) left an output file behind", tc.name)
			}
		})
	}
}

// unpack writes the records of archives, in order, under dir as the
// kernel does with several initrds.
func unpack(t *testing.T, dir string, archives map[string]string, order ...string) {
	t.Helper()
	for _, name := range order {
		for _, r := range orderedRecords(t, name, archives[name]) {
			if err := cpio.CreateFileInRoot(r, dir, true); err != nil {
				t.Fatalf("unpack %s: %s: %v", name, r.Name, err)
			}
		}
	}
}

func orderedRecords(t *testing.T, p, compression string) []cpio.Record {
	t.Helper()
	recs := readArchive(t, p, compression)
	names := sortedNames(recs)
	out := make([]cpio.Record, 0, len(names))
	for _, n := range names {
		out = append(out, recs[n])
	}
	return out
}
