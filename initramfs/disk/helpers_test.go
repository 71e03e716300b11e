package disk

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// integration reports whether missing tools or privileges must fail tests
// (make test sets BYOI_INTEGRATION=1) instead of skipping them.
func integration() bool { return os.Getenv("BYOI_INTEGRATION") == "1" }

func precondition(t *testing.T, format string, args ...any) {
	t.Helper()
	if integration() {
		t.Fatalf("precondition failed with BYOI_INTEGRATION=1: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			precondition(t, "%s not installed (apt-get install gdisk fdisk util-linux)", tool)
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func runStdin(t *testing.T, stdin, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// imageFile creates a sparse file of the given size in a temp directory.
func imageFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

func grow(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// withLoop attaches path as a loop device with the given logical sector
// size, runs fn with the device path and detaches it.
func withLoop(t *testing.T, path string, ss int, fn func(dev string), extra ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		precondition(t, "loop devices need root")
	}
	needTools(t, "losetup")
	out, err := exec.Command("losetup", append(append([]string{"--sector-size", strconv.Itoa(ss)}, extra...), "-f", "--show", path)...).CombinedOutput()
	if err != nil {
		precondition(t, "losetup failed: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	defer func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	}()
	fn(dev)
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func openRW(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readSector returns sector lba of path.
func readSector(t *testing.T, path string, ss int, lba int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, ss)
	if _, err := f.ReadAt(b, lba*int64(ss)); err != nil {
		t.Fatal(err)
	}
	return b
}

func hasGPTHeaderAt(b []byte) bool { return bytes.HasPrefix(b, []byte(gptSignature)) }
