package tftp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pin/tftp/v3"
)

func TestRefused(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	os.Mkdir(root, 0o755)
	writeRandom(t, filepath.Join(base, "secret"), 100)
	os.WriteFile(filepath.Join(base, "x"), []byte("outside"), 0o644)
	writeRandom(t, filepath.Join(root, "ipxe.efi"), 100)
	writeRandom(t, filepath.Join(root, ".hidden"), 100)
	os.Mkdir(filepath.Join(root, "dir"), 0o755)
	if err := os.Symlink(filepath.Join(base, "secret"), filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret", filepath.Join(root, "escape-rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(root, "etc")); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, Config{Root: root})

	tests := []struct {
		name, file, want string // want: the client's error text
	}{
		{"parent", "../secret", "access violation"},
		{"etc passwd relative", "../etc/passwd", "access violation"},
		{"absolute", "/etc/passwd", "access violation"},
		{"absolute inside root", "/ipxe.efi", "access violation"},
		{"climb through subdir", "dir/../../x", "access violation"},
		{"dot dir", "./ipxe.efi", "access violation"},
		{"backslash", `..\x`, "access violation"},
		{"backslash name", `dir\ipxe.efi`, "access violation"},
		{"percent-encoded dots", "%2e%2e/x", "access violation"},
		{"percent-encoded slash", "..%2fsecret", "access violation"},
		{"double slash", "dir//ipxe.efi", "access violation"},
		{"hidden file", ".hidden", "access violation"},
		{"control character", "ipxe.efi\r", "access violation"},
		{"symlink out of root", "escape", "access violation"},
		{"relative symlink out of root", "escape-rel", "access violation"},
		{"through symlinked dir", "etc/passwd", "access violation"},
		{"directory", "dir", "access violation"},
		{"missing file", "nothing.efi", "file not found"},
		{"missing in subdir", "dir/nothing.efi", "file not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := get(t, ts.addr, tt.file, 1468)
			if err == nil {
				t.Fatalf("get(%q) = %d bytes, nil error; want %q", tt.file, len(got), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("get(%q) = %v, want an error containing %q", tt.file, err, tt.want)
			}
			for _, leak := range []string{base, "secret data"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("get(%q) error %q reveals %q", tt.file, err, leak)
				}
			}
		})
	}
	ts.stop()
	if got := counter(t, ts.reg, "byoi_tftp_transfers_total", "refused"); got != float64(len(tests)-2) {
		t.Errorf("byoi_tftp_transfers_total{outcome=refused} = %v, want %d", got, len(tests)-2)
	}
	if got := counter(t, ts.reg, "byoi_tftp_transfers_total", "not_found"); got != 2 {
		t.Errorf("byoi_tftp_transfers_total{outcome=not_found} = %v, want 2", got)
	}
	if got := counter(t, ts.reg, "byoi_tftp_bytes_total", ""); got != 0 {
		t.Errorf("byoi_tftp_bytes_total = %v, want 0", got)
	}
}

func TestSymlinkInsideRoot(t *testing.T) {
	ts := startServer(t, Config{})
	want := writeRandom(t, filepath.Join(ts.root, "ipxe-amd64.efi"), 5000)
	if err := os.Symlink("ipxe-amd64.efi", filepath.Join(ts.root, "ipxe.efi")); err != nil {
		t.Fatal(err)
	}
	got, _, err := get(t, ts.addr, "ipxe.efi", 0)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get(ipxe.efi → ipxe-amd64.efi) = %d bytes, %v; want the %d-byte file", len(got), err, len(want))
	}
}

func TestWriteRefused(t *testing.T) {
	ts := startServer(t, Config{})
	c, err := tftp.NewClient(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	c.SetRetries(2)
	rf, err := c.Send("new.efi", "octet")
	if err == nil {
		_, err = rf.ReadFrom(strings.NewReader("payload"))
	}
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Send(new.efi) = %v, want an error saying the server is read-only", err)
	}
	if _, err := os.Stat(filepath.Join(ts.root, "new.efi")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat new.efi = %v, want not exist", err)
	}
	ts.stop()
	if got := counter(t, ts.reg, "byoi_tftp_transfers_total", "refused"); got != 1 {
		t.Errorf("byoi_tftp_transfers_total{outcome=refused} = %v, want 1", got)
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"ipxe.efi", true},
		{"a/b/c.efi", true},
		{"a-b_c+d.efi", true},
		{"", false},
		{"/ipxe.efi", false},
		{"../x", false},
		{"a/../b", false},
		{"a/./b", false},
		{".", false},
		{"a/", false},
		{`a\b`, false},
		{"%2e%2e", false},
		{"a\x00b", false},
		{"a\nb", false},
		{strings.Repeat("a", 256), false},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.in) {
			t.Errorf("cleanName(%q) = %q, %v, want ok=%v", tt.in, got, err, tt.ok)
		}
	}
	if diff := cmp.Diff("ipxe.efi", must(cleanName("ipxe.efi"))); diff != "" {
		t.Error(diff)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
