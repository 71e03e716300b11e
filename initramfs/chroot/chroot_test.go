package chroot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/initramfs/internal/testfs"
)

// newRoot makes a tiny system: busybox and its applets, /etc, /root/.ovh
// with the given script (mode 0755; "" for none).
func newRoot(t *testing.T, script string) string {
	t.Helper()
	testfs.NeedRoot(t)
	bb := testfs.NeedTool(t, "busybox")
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "root/.ovh", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "cat", "echo", "sleep", "ls", "grep", "test", "seq", "head", "tr", "touch", "stat", "readlink"} {
		os.Symlink("busybox", filepath.Join(root, "bin", applet))
	}
	if script != "" {
		if err := os.WriteFile(filepath.Join(root, "root/.ovh/make_image_bootable.sh"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// collect gathers output lines (Output is called from another goroutine).
type collect struct {
	mu    sync.Mutex
	lines []string
}

func (c *collect) add(l string) { c.mu.Lock(); c.lines = append(c.lines, l); c.mu.Unlock() }

func (c *collect) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// mountsUnder lists the mount points under dir.
func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], dir) {
			out = append(out, f[1])
		}
	}
	return out
}

func TestRunScript(t *testing.T) {
	script := `#!/bin/sh
echo "start in $(pwd) as $HOME"
echo "to stderr" >&2
echo "cmdline: $(cat /proc/cmdline)"
echo "dns: $(grep nameserver /etc/resolv.conf)"
test -e /dev/null && echo "dev ok"
test -d /sys/block && echo "sys ok"
test -d /dev/pts && echo "pts ok"
touch /run/x && echo "run ok"
echo "debian frontend $DEBIAN_FRONTEND, extra $BYOI_TEST"
`
	root := newRoot(t, script)
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var c collect
	res, err := Run(context.Background(), Options{Root: root, Cmdline: ConsoleArgs("BOOT_IMAGE=x byoi.token=secret console=tty0 console=ttyS0,115200n8"),
		ResolvConf: []byte("nameserver 198.51.100.1\n"), Env: []string{"BYOI_TEST=yes"}, Output: c.add})
	if err != nil {
		t.Fatalf("Run() = %v", err)
	}
	want := []string{"start in / as /root", "to stderr", "cmdline: console=tty0 console=ttyS0,115200n8", "dns: nameserver 198.51.100.1",
		"dev ok", "sys ok", "pts ok", "run ok", "debian frontend noninteractive, extra yes"}
	if diff := cmp.Diff(want, c.get()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if res.ExitCode != 0 || res.Lines != int64(len(want)) {
		t.Errorf("Run() = %+v, want exit 0 and %d lines", res, len(want))
	}
	if m := mountsUnder(t, root); len(m) != 0 {
		t.Errorf("still mounted after Run: %v", m)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/resolv.conf")); string(b) != "nameserver 192.0.2.1\n" {
		t.Errorf("the image's resolv.conf is now %q, want it unchanged", b)
	}
	if _, err := os.Stat(filepath.Join(root, "proc/cmdline")); err == nil {
		t.Errorf("proc/cmdline left behind in the image")
	}
}

// A resolv.conf linked into /run (systemd-resolved) gets the installer's
// servers through the chroot's own /run.
func TestResolvConfLink(t *testing.T) {
	root := newRoot(t, "#!/bin/sh\ncat /etc/resolv.conf\n")
	os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc/resolv.conf"))
	var c collect
	if _, err := Run(context.Background(), Options{Root: root, ResolvConf: []byte("nameserver 198.51.100.53\n"), Output: c.add}); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if diff := cmp.Diff([]string{"nameserver 198.51.100.53"}, c.get()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if l, err := os.Readlink(filepath.Join(root, "etc/resolv.conf")); err != nil || l != "../run/systemd/resolve/stub-resolv.conf" {
		t.Errorf("resolv.conf link = %q, %v; want it unchanged", l, err)
	}
}

func TestRunFailures(t *testing.T) {
	long := strings.Repeat("x", MaxLine+100)
	tests := []struct {
		name    string
		script  string
		mode    os.FileMode
		timeout time.Duration
		check   func(t *testing.T, err error, lines []string)
	}{
		{"exit status", "#!/bin/sh\nfor i in $(seq 1 30); do echo line $i; done\necho boom >&2\nexit 3\n", 0o755, 0, func(t *testing.T, err error, lines []string) {
			var e *ExitError
			if !errors.As(err, &e) || e.Code != 3 || len(e.Tail) != TailLines || e.Tail[TailLines-1] != "boom" || e.Tail[0] != "line 12" {
				t.Errorf("Run() = %#v, want ExitError 3 with the last %d lines", err, TailLines)
			}
			if !strings.HasPrefix(err.Error(), "exited with status 3; last lines of its output:\nline 12\n") {
				t.Errorf("Error() = %q", err.Error())
			}
			if len(lines) != 31 {
				t.Errorf("Output got %d lines, want all 31", len(lines))
			}
		}},
		{"time-out kills children", "#!/bin/sh\necho started\nsleep 300 &\nsleep 300\n", 0o755, time.Second, func(t *testing.T, err error, lines []string) {
			var e *TimeoutError
			if !errors.As(err, &e) || e.After != time.Second || len(e.Tail) != 1 || e.Tail[0] != "started" {
				t.Errorf("Run() = %#v, want TimeoutError after 1s with its output", err)
			}
		}},
		{"daemon keeps running", "#!/bin/sh\n(sleep 300 >/dev/null 2>&1 &)\necho done\n", 0o755, 0, func(t *testing.T, err error, lines []string) {
			if err != nil {
				t.Errorf("Run() = %v, want nil", err)
			}
		}},
		{"not executable", "#!/bin/sh\n", 0o644, 0, func(t *testing.T, err error, lines []string) {
			if !errors.Is(err, ErrNotExecutable) || err.Error() != "/root/.ovh/make_image_bootable.sh (mode -rw-r--r--): script not executable" {
				t.Errorf("Run() = %v, want ErrNotExecutable", err)
			}
		}},
		{"missing", "", 0, 0, func(t *testing.T, err error, lines []string) {
			if !errors.Is(err, ErrNoScript) {
				t.Errorf("Run() = %v, want ErrNoScript", err)
			}
		}},
		{"missing interpreter", "#!/bin/bash\necho hi\n", 0o755, 0, func(t *testing.T, err error, lines []string) {
			if err == nil || !strings.Contains(err.Error(), "is its interpreter, e.g. /bin/sh or /bin/bash, in the image?") {
				t.Errorf("Run() = %v, want a start failure naming the interpreter", err)
			}
		}},
		{"long line", "#!/bin/sh\necho " + long + "\n", 0o755, 0, func(t *testing.T, err error, lines []string) {
			if err != nil || len(lines) != 1 || lines[0] != long[:MaxLine]+"…" {
				t.Errorf("Run() = %v, %d lines; want one line cut at %d bytes", err, len(lines), MaxLine)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := newRoot(t, tt.script)
			if tt.mode != 0 {
				os.Chmod(filepath.Join(root, DefaultScript), tt.mode)
			}
			var c collect
			_, err := Run(context.Background(), Options{Root: root, Timeout: tt.timeout, Output: c.add})
			tt.check(t, err, c.get())
			if m := mountsUnder(t, root); len(m) != 0 {
				t.Errorf("still mounted after Run: %v", m)
			}
			if left := processesIn(t, root); left != 0 {
				t.Errorf("%d processes still run inside the chroot", left)
			}
		})
	}
}

func processesIn(t *testing.T, root string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if r, err := os.Readlink("/proc/" + e.Name() + "/root"); err == nil && r == root {
			n++
		}
	}
	return n
}

// TestDevLinks: the script sees udev-like /dev/disk/by-uuid links to the
// devices (grub-mkconfig then writes root=UUID=…); they are gone
// afterwards, from the devtmpfs too.
func TestDevLinks(t *testing.T) {
	root := newRoot(t, "#!/bin/sh\nreadlink /dev/disk/by-uuid/ca1ea1d3-e21b-4267-9833-0c534442f7f7\nreadlink /dev/disk/by-uuid/5663-09A1\ntest -b /dev/disk/by-uuid/5663-09A1 && echo block\n")
	var c collect
	links := map[string]string{"disk/by-uuid/ca1ea1d3-e21b-4267-9833-0c534442f7f7": "/dev/md1", "disk/by-uuid/5663-09A1": "/dev/loop0"}
	if _, err := Run(context.Background(), Options{Root: root, DevLinks: links, Output: c.add}); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	want := []string{"../../md1", "../../loop0"}
	if _, err := os.Stat("/dev/loop0"); err == nil {
		want = append(want, "block")
	}
	if diff := cmp.Diff(want, c.get()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	for _, p := range []string{filepath.Join(root, "dev/disk"), "/dev/disk/by-uuid/ca1ea1d3-e21b-4267-9833-0c534442f7f7"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if _, err := Run(context.Background(), Options{Root: root, DevLinks: map[string]string{"../etc/passwd": "/dev/md1"}}); err == nil {
		t.Errorf("Run() with a link outside /dev = nil error, want one")
	}
}
