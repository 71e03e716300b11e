package tftp

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// needTool finds a client program; without it the test fails under
// BYOI_INTEGRATION=1 and is skipped otherwise.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("%s not found (install it: scripts/install-deps.sh test): %v", name, err)
		}
		t.Skipf("%s not found; set BYOI_INTEGRATION=1 to make this a failure", name)
	}
	return p
}

// TestInterop downloads with real TFTP clients: busybox tftp and curl.
func TestInterop(t *testing.T) {
	ts := startServer(t, Config{})
	want := writeRandom(t, filepath.Join(ts.root, "snponly.efi"), 1<<20+123)
	_, port, _ := net.SplitHostPort(ts.addr)

	tests := []struct {
		name string
		tool string
		args func(out string) []string
	}{
		{"busybox default blksize", "busybox", func(out string) []string {
			return []string{"tftp", "-g", "-r", "snponly.efi", "-l", out, "127.0.0.1", port}
		}},
		{"busybox blksize 1468", "busybox", func(out string) []string {
			return []string{"tftp", "-g", "-b", "1468", "-r", "snponly.efi", "-l", out, "127.0.0.1", port}
		}},
		{"curl blksize 1468", "curl", func(out string) []string {
			return []string{"-sS", "--tftp-blksize", "1468", "-o", out, "tftp://127.0.0.1:" + port + "/snponly.efi"}
		}},
		{"curl blksize 512 without options", "curl", func(out string) []string {
			return []string{"-sS", "--tftp-no-options", "-o", out, "tftp://127.0.0.1:" + port + "/snponly.efi"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := needTool(t, tt.tool)
			out := filepath.Join(t.TempDir(), "out")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args(out)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s %v: %v\n%s", tt.tool, cmd.Args[1:], err, b)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s downloaded %d bytes, not equal to the %d-byte file", tt.tool, len(got), len(want))
			}
		})
	}
	t.Run("busybox missing file", func(t *testing.T) {
		bin := needTool(t, "busybox")
		out := filepath.Join(t.TempDir(), "out")
		cmd := exec.Command(bin, "tftp", "-g", "-r", "../etc/passwd", "-l", out, "127.0.0.1", port)
		if b, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("busybox tftp ../etc/passwd succeeded:\n%s", b)
		}
	})
}
