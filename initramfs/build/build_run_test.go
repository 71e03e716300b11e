package build

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/initramfs/kmod"
)

func writeAgent(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "byoi-agent")
	if err := os.WriteFile(p, []byte("#!agent binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildFakeKernel(t *testing.T) {
	modules, firmware := fakeKernel(t)
	agent := writeAgent(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, compression := range []string{"", Gzip, Zstd, None} {
		t.Run("compression="+compression, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "initrd")
			rep, err := Build(Options{
				AgentBinary: agent, ModulesDir: modules, FirmwareDir: firmware, CABundle: ca,
				Modules: []string{"virtio-net", "ice", "virtio_blk"}, Output: out, Compression: compression,
			})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			recs := readArchive(t, out, compression)
			base := "lib/modules/6.1.0-test-amd64/"
			want := []string{
				"dev", "dev/console", "dev/null", "etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt",
				"init", "lib", "lib/firmware", "lib/firmware/intel", "lib/firmware/intel/ice", "lib/firmware/intel/ice/ddp",
				"lib/firmware/intel/ice/ddp/ice.pkg", "lib/modules", "lib/modules/6.1.0-test-amd64",
				base + "kernel", base + "kernel/drivers", base + "kernel/drivers/net", base + "kernel/drivers/net/ethernet",
				base + "kernel/drivers/net/ethernet/intel", base + "kernel/drivers/net/ethernet/intel/ice",
				base + "kernel/drivers/net/ethernet/intel/ice/ice.ko", base + "kernel/drivers/net/virtio_net.ko",
				base + "kernel/drivers/virtio", base + "kernel/drivers/virtio/virtio.ko", base + "kernel/drivers/virtio/virtio_ring.ko",
				base + "modules.alias", base + "modules.builtin", base + "modules.dep",
				"proc", "root", "run", "sys", "tmp",
			}
			if diff := cmp.Diff(sortedStrings(want), sortedNames(recs)); diff != "" {
				t.Errorf("archive files mismatch (-want +got):\n%s", diff)
			}
			con := recs["dev/console"]
			if con.Mode != modeChar|0o600 || con.Rmajor != 5 || con.Rminor != 1 {
				t.Errorf("dev/console = mode %o dev %d,%d, want char 0600 5,1", con.Mode, con.Rmajor, con.Rminor)
			}
			if r := recs["init"]; r.Mode != modeFile|0o755 || content(t, r) != "#!agent binary" {
				t.Errorf("init = mode %o %q, want the agent binary, mode 0755", r.Mode, content(t, r))
			}
			for name, r := range recs {
				if r.MTime != 0 || r.UID != 0 || r.GID != 0 {
					t.Errorf("%s: mtime %d uid %d gid %d, want all 0", name, r.MTime, r.UID, r.GID)
				}
			}
			gotDep := content(t, recs[base+"modules.dep"])
			deps, err := kmod.ParseDep(strings.NewReader(gotDep))
			if err != nil {
				t.Fatalf("ParseDep(built modules.dep): %v", err)
			}
			if _, err := deps.Closure([]string{"virtio_net", "ice"}); err != nil {
				t.Errorf("built modules.dep cannot resolve its own modules: %v", err)
			}
			if _, ok := deps["unused"]; ok {
				t.Errorf("built modules.dep lists unused, want only included modules:\n%s", gotDep)
			}
			wantAlias := "alias virtio:d00000001v* virtio_net\nalias pci:v00008086d00001591sv*sd*bc*sc*i* ice\n"
			if got := content(t, recs[base+"modules.alias"]); got != wantAlias {
				t.Errorf("modules.alias = %q, want %q", got, wantAlias)
			}
			wantRep := Report{
				Output: out, KernelRelease: "6.1.0-test-amd64", Files: len(want),
				Modules:  []string{"virtio_ring", "virtio", "virtio_net", "ice"},
				Builtin:  []string{"virtio_blk"},
				Firmware: []string{"intel/ice/ddp/ice.pkg"}, MissingFirmware: []string{"intel/ice/missing.bin"},
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Bytes != fi.Size() || rep.RawBytes < 512 || (compression == None && rep.RawBytes != rep.Bytes) {
				t.Errorf("Build sizes: raw %d, written %d; file has %d", rep.RawBytes, rep.Bytes, fi.Size())
			}
			rep.Bytes, rep.RawBytes = 0, 0
			if diff := cmp.Diff(wantRep, rep); diff != "" {
				t.Errorf("Build report mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func sortedStrings(s []string) []string {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	var out []string
	for v := range m {
		out = append(out, v)
	}
	return sortStrings(out)
}

func TestBuildReproducible(t *testing.T) {
	modules, firmware := fakeKernel(t)
	agent := writeAgent(t)
	var outs [][]byte
	for i := 0; i < 2; i++ {
		out := filepath.Join(t.TempDir(), "initrd.gz")
		if _, err := Build(Options{AgentBinary: agent, ModulesDir: modules, FirmwareDir: firmware, CABundle: "-",
			Modules: []string{"ice", "virtio_net"}, Output: out}); err != nil {
			t.Fatalf("Build #%d: %v", i, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
		// Touch the inputs: times must not leak into the archive.
		now := time.Now().Add(time.Duration(i+1) * time.Hour)
		os.Chtimes(agent, now, now)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("two builds of the same inputs differ (%d and %d bytes)", len(outs[0]), len(outs[1]))
	}
}

func TestBuildErrors(t *testing.T) {
	modules, _ := fakeKernel(t)
	agent := writeAgent(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		o       Options
		wantErr string
		is      error
	}{
		{name: "no agent", o: Options{Output: filepath.Join(dir, "x")}, wantErr: "no agent binary"},
		{name: "no output", o: Options{AgentBinary: agent}, wantErr: "no output file"},
		{name: "missing agent", o: Options{AgentBinary: filepath.Join(dir, "nope"), Output: filepath.Join(dir, "x")}, wantErr: "agent binary"},
		{name: "bad compression", o: Options{AgentBinary: agent, Output: filepath.Join(dir, "x"), Compression: "lz4"}, wantErr: "unknown compression"},
		{name: "no modules.dep", o: Options{AgentBinary: agent, Output: filepath.Join(dir, "x"), ModulesDir: dir}, wantErr: "run depmod"},
		{name: "unknown module", o: Options{AgentBinary: agent, Output: filepath.Join(dir, "x"), ModulesDir: modules, Modules: []string{"nosuch"}}, is: kmod.ErrUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.o)
			if err == nil || (tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr)) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Build(%s) error = %v, want one containing %q / wrapping %v", tc.name, err, tc.wantErr, tc.is)
			}
			if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
				t.Errorf("Build(%s) left an output file behind", tc.name)
			}
		})
	}
}

// TestBuildRealKernel packs the default module list of the installed kernel.
func TestBuildRealKernel(t *testing.T) {
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
	agent := writeAgent(t)
	for _, compression := range []string{Gzip, Zstd} {
		out := filepath.Join(t.TempDir(), "initrd")
		o := Options{AgentBinary: agent, ModulesDir: filepath.Dir(dirs[0]), Output: out, Compression: compression}
		if _, err := os.Stat("/lib/firmware"); err == nil {
			o.FirmwareDir = "/lib/firmware"
		}
		rep, err := Build(o)
		if err != nil {
			t.Fatalf("Build(%s): %v", o.ModulesDir, err)
		}
		recs := readArchive(t, out, compression)
		for _, m := range []string{"virtio_net", "virtio_blk", "nvme", "ahci", "mlx5_core", "sd_mod"} {
			found := false
			for name := range recs {
				if strings.HasSuffix(name, "/"+m+".ko") || strings.Contains(name, "/"+m+".ko.") {
					found = true
				}
			}
			if !found && !contains(rep.Builtin, m) {
				t.Errorf("real build (%s) lacks module %s", compression, m)
			}
		}
		t.Logf("%s: %d files, %d modules, %d firmware (%d missing), cpio %.1f MiB → %s %.1f MiB",
			o.ModulesDir, rep.Files, len(rep.Modules), len(rep.Firmware), len(rep.MissingFirmware),
			float64(rep.RawBytes)/(1<<20), compression, float64(rep.Bytes)/(1<<20))
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
