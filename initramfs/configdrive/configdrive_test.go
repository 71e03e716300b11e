package configdrive

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// cases are the configurations every test renders.
var cases = []struct {
	name string
	cfg  Config
}{
	{"minimal", Config{UUID: "6f1c9a52-4b1e-4f43-9a57-0d2c1a7f3e10"}},
	{"full", Config{
		UUID:       "0b7e2a3c-1d4f-4e5a-8b6c-7d8e9f0a1b2c",
		Hostname:   "web1.example.net",
		PublicKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0bYOI5kFZuG6vZRkn3x0yV3l0y2m0ZkFhq0w1b2c3d alice@laptop", "ssh-rsa AAAAB3NzaC1yc2E bob"},
		Meta:       map[string]string{"role": "webserver", "env": "prod", "dsmode": "local"},
		UserData:   []byte("#cloud-config\npackages: [nginx]\n"),
		MACs:       []string{"52:54:00:12:34:56", "52:54:00:ab:cd:ef"},
	}},
	{"network data given", Config{
		UUID:        "c0ffee00-0000-4000-8000-000000000001",
		Hostname:    "db1",
		NetworkData: []byte(`{"links":[{"id":"eth0","type":"phy","ethernet_mac_address":"52:54:00:00:00:01"}],"networks":[{"id":"n0","type":"ipv4","link":"eth0","ip_address":"198.51.100.10","netmask":"255.255.255.0","network_id":"n0"}],"services":[]}` + "\n"),
		MACs:        []string{"52:54:00:00:00:99"}, // ignored: NetworkData wins
	}},
	{"boot nic dhcp", Config{
		UUID:    "c0ffee00-0000-4000-8000-000000000002",
		Network: &Interface{MAC: "52-54-00-AB-CD-01"},
		MACs:    []string{"52:54:00:ab:cd:01", "52:54:00:ab:cd:02"}, // ignored: Network wins
	}},
	{"boot nic static", Config{
		UUID: "c0ffee00-0000-4000-8000-000000000003",
		Network: &Interface{MAC: "52:54:00:ab:cd:01", Address: netip.MustParsePrefix("198.51.100.10/24"),
			Gateway: netip.MustParseAddr("198.51.100.1"), DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("198.51.100.54")}},
	}},
	{"boot nic static without gateway", Config{
		UUID:    "c0ffee00-0000-4000-8000-000000000004",
		Network: &Interface{MAC: "52:54:00:ab:cd:01", Address: netip.MustParsePrefix("198.51.100.130/25")},
	}},
}

func goldenDir(name string) string {
	return filepath.Join("testdata", strings.ReplaceAll(name, " ", "_"))
}

func TestFilesGolden(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Files(tc.cfg)
			if err != nil {
				t.Fatalf("Files = %v", err)
			}
			dir := goldenDir(tc.name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				for p, data := range got {
					fp := filepath.Join(dir, filepath.FromSlash(p))
					if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(fp, data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := map[string]string{}
			err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(p)
				rel, _ := filepath.Rel(dir, p)
				want[filepath.ToSlash(rel)] = string(b)
				return err
			})
			if err != nil {
				t.Fatalf("read golden files (run go test -update): %v", err)
			}
			gotS := map[string]string{}
			for p, b := range got {
				gotS[p] = string(b)
			}
			if diff := cmp.Diff(want, gotS); diff != "" {
				t.Errorf("Files(%s) mismatch (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

func TestFilesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no uuid", Config{Hostname: "x"}, "uuid is required"},
		{"bad network data", Config{UUID: "u", NetworkData: []byte("{")}, "not valid JSON"},
		{"bad boot nic MAC", Config{UUID: "u", Network: &Interface{MAC: "52:54:00"}}, `boot NIC MAC "52:54:00" is not an Ethernet MAC address`},
		{"IPv6 boot nic", Config{UUID: "u", Network: &Interface{MAC: "52:54:00:00:00:01", Address: netip.MustParsePrefix("2001:db8::1/64")}},
			"not an IPv4 address"},
		{"gateway outside", Config{UUID: "u", Network: &Interface{MAC: "52:54:00:00:00:01", Address: netip.MustParsePrefix("198.51.100.10/24"),
			Gateway: netip.MustParseAddr("198.51.101.1")}}, "gateway 198.51.101.1 is not another address of 198.51.100.0/24"},
		{"gateway is the address", Config{UUID: "u", Network: &Interface{MAC: "52:54:00:00:00:01", Address: netip.MustParsePrefix("198.51.100.10/24"),
			Gateway: netip.MustParseAddr("198.51.100.10")}}, "is not another address"},
		{"gateway with dhcp", Config{UUID: "u", Network: &Interface{MAC: "52:54:00:00:00:01", Gateway: netip.MustParseAddr("198.51.100.1")}},
			"need a fixed address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, render := range []func(Config) ([]byte, error){ISO, VFAT} {
				if _, err := render(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("render(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
				}
			}
			if _, err := Files(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Files(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
}

func TestImage(t *testing.T) {
	c := cases[1].cfg
	for _, tc := range []struct {
		ss      int
		fs      string
		wantErr bool
	}{
		{512, TypeISO9660, false}, {2048, TypeISO9660, false}, {4096, TypeVFAT, false}, {520, "", true}, {8192, "", true},
	} {
		img, fs, err := Image(c, tc.ss)
		if (err != nil) != tc.wantErr || fs != tc.fs {
			t.Errorf("Image(%d) = %q, %v, want %q (error %v)", tc.ss, fs, err, tc.fs, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		render := ISO
		if fs == TypeVFAT {
			render = VFAT
		}
		if want, _ := render(c); string(want) != string(img) {
			t.Errorf("Image(%d) differs from %s()", tc.ss, fs)
		}
	}
}

// Helpers shared by the ISO and VFAT tests.

func integration() bool { return os.Getenv("BYOI_INTEGRATION") == "1" }

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if integration() {
				t.Fatalf("%s not installed (BYOI_INTEGRATION=1): apt-get install genisoimage dosfstools mtools util-linux", tool)
			}
			t.Skipf("skipping: %s not installed", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkBlkid(t *testing.T, path, fsType string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(run(t, "blkid", "-o", "export", "-s", "LABEL", "-s", "TYPE", path), "\n") {
		if !strings.HasPrefix(l, "DEVNAME=") && l != "" {
			lines = append(lines, l)
		}
	}
	got := strings.Join(lines, "\n")
	want := "LABEL=" + Label + "\nTYPE=" + fsType
	if got != want {
		t.Errorf("blkid %s = %q, want %q", path, got, want)
	}
}
