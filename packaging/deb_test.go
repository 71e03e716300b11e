package packaging

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// need fails under BYOI_INTEGRATION=1 (CI, make package-test) and skips
// elsewhere when a precondition is missing.
func need(t *testing.T, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("BYOI_INTEGRATION") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mirror is the Debian archive the machine's apt already uses.
func mirror(t *testing.T) string {
	paths, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, p := range append(paths, "/etc/apt/sources.list") {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			for i, w := range f {
				if (f[0] == "URIs:" || f[0] == "deb") && i > 0 && strings.Contains(w, "://") && !strings.Contains(w, "security") {
					return w
				}
			}
		}
	}
	t.Fatal("no Debian archive in /etc/apt")
	return ""
}

// debianRoot makes a clean Debian bookworm root (minbase with systemd, as
// a server has) in dir, from a tarball cached under third_party/cache.
func debianRoot(t *testing.T, root, dir string) {
	t.Helper()
	cache := filepath.Join(root, "third_party", "cache", "bookworm-minbase-systemd.tar")
	if _, err := os.Stat(cache); err != nil {
		_, lookErr := exec.LookPath("mmdebstrap")
		need(t, lookErr == nil, "mmdebstrap is not installed: scripts/install-deps.sh test installs it")
		if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("building a clean Debian root with mmdebstrap (cached in %s)", cache)
		tmp := strings.TrimSuffix(cache, ".tar") + ".tmp.tar" // the suffix tells mmdebstrap the format
		out, err := exec.Command("mmdebstrap", "--variant=minbase", "--include=systemd,ca-certificates,iproute2",
			"bookworm", tmp, mirror(t)).CombinedOutput()
		if err != nil {
			os.Remove(tmp)
			t.Fatalf("mmdebstrap: %v\n%s", err, out)
		}
		if err := os.Rename(tmp, cache); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "tar", "-C", dir, "-xf", cache)
}

// unitField returns the values of key in the unit file text.
func unitField(unit, key string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestDebInCleanRoot installs the .deb into a clean Debian root, checks the
// unit with systemd-analyze verify, then runs the installed byoi the way the
// unit does (its user, its ambient capabilities, its ExecStartPre and
// ExecStart) in a network namespace, and talks to it.
func TestDebInCleanRoot(t *testing.T) {
	deb, root := os.Getenv("BYOI_DEB"), os.Getenv("BYOI_ROOT")
	need(t, deb != "" && root != "", "BYOI_DEB and BYOI_ROOT are not set: run make package-test")
	need(t, os.Geteuid() == 0, "needs root (chroot, network namespaces)")
	if !filepath.IsAbs(deb) {
		deb = filepath.Join(root, deb)
	}
	dir := t.TempDir()
	debianRoot(t, root, dir)
	mount := func(what, where, fstype string) {
		target := filepath.Join(dir, where)
		run(t, "mount", "-t", fstype, what, target)
		t.Cleanup(func() { exec.Command("umount", "-l", target).Run() })
	}
	mount("proc", "proc", "proc")

	// Install: dpkg only (no network needed, ca-certificates is there).
	run(t, "cp", deb, filepath.Join(dir, "tmp", "byoi.deb"))
	out := run(t, "chroot", dir, "dpkg", "-i", "/tmp/byoi.deb")
	t.Logf("dpkg -i:\n%s", out)
	if !strings.Contains(run(t, "chroot", dir, "getent", "passwd", "byoi"), "/var/lib/byoi") {
		t.Error("no byoi user with home /var/lib/byoi")
	}
	st := run(t, "chroot", dir, "stat", "-c", "%U %a", "/var/lib/byoi", "/etc/byoi/config.yaml")
	if st != "byoi 700\nroot 640\n" {
		t.Errorf("state dir and config: %q, want byoi 700 and root 640", st)
	}
	if v := os.Getenv("BYOI_VERSION"); v != "" {
		if got := run(t, "chroot", dir, "byoi", "--version"); !strings.Contains(got, "byoi version "+v+" ") {
			t.Errorf("byoi --version = %q, want version %s", got, v)
		}
	}

	// The unit as systemd reads it.
	unitPath := "/lib/systemd/system/byoi.service"
	if out, err := exec.Command("systemd-analyze", "verify", "--root="+dir, unitPath).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	unitRaw, err := os.ReadFile(filepath.Join(dir, unitPath))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(unitRaw)
	user := unitField(unit, "User")
	caps := unitField(unit, "AmbientCapabilities")
	if len(user) != 1 || user[0] != "byoi" || len(caps) != 1 || caps[0] != "CAP_NET_BIND_SERVICE CAP_NET_RAW" {
		t.Fatalf("unit: User=%v AmbientCapabilities=%v", user, caps)
	}

	// A network namespace with a veth, byoi's side 198.51.100.1/24.
	ns := fmt.Sprintf("byoi-pkg-%d", os.Getpid())
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	for _, c := range [][]string{
		{"link", "add", "pkg0", "type", "veth", "peer", "name", "pkg1"},
		{"link", "set", "pkg0", "up"}, {"link", "set", "pkg1", "up"}, {"link", "set", "lo", "up"},
		{"addr", "add", "198.51.100.1/24", "dev", "pkg0"}, {"addr", "add", "198.51.100.2/24", "dev", "pkg1"},
	} {
		run(t, "ip", append([]string{"-n", ns}, c...)...)
	}
	// The settings an operator would write: the interface, HTTP on port 80
	// (below 1024: the capability is needed), DHCP in full mode (port 67).
	conf := "interface: [pkg0]\ndhcp-mode: full\ndhcp-pool-start: 198.51.100.100\ndhcp-pool-end: 198.51.100.199\nhttp-listen: \":80\"\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/byoi/config.yaml"), []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	capList := "+net_bind_service,+net_raw"
	asUnit := func(cmdline string) *exec.Cmd {
		args := append([]string{"netns", "exec", ns, "chroot", dir, "setpriv", "--reuid=byoi", "--regid=byoi", "--init-groups",
			"--inh-caps=" + capList, "--ambient-caps=" + capList, "--bounding-set=-all," + capList, "--no-new-privs"}, strings.Fields(cmdline)...)
		return exec.Command("ip", args...)
	}
	pre := unitField(unit, "ExecStartPre")
	if len(pre) != 1 {
		t.Fatalf("ExecStartPre = %v", pre)
	}
	if out, err := asUnit(pre[0]).CombinedOutput(); err != nil || !strings.Contains(string(out), "Configuration OK") {
		t.Fatalf("ExecStartPre (%s): %v\n%s", pre[0], err, out)
	}
	start := unitField(unit, "ExecStart")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := asUnit(start[0])
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	logs, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logBuf strings.Builder
	logDone := make(chan struct{})
	go func() { io.Copy(&logBuf, logs); close(logDone) }()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		<-logDone
		t.Logf("byoi serve logs:\n%s", logBuf.String())
	})

	// From the other end of the veth: the boot plane, the UI, the API.
	get := func(path string, hdr ...string) (int, string) {
		args := []string{"netns", "exec", ns, "curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "5"}
		for _, h := range hdr {
			args = append(args, "-H", h)
		}
		out, _ := exec.Command("ip", append(args, "http://198.51.100.1"+path)...).Output()
		s := string(out)
		i := strings.LastIndex(s, "\n")
		code := 0
		fmt.Sscan(s[i+1:], &code)
		return code, s[:max(i, 0)]
	}
	var code int
	for i := 0; i < 100; i++ {
		if code, _ = get("/boot.ipxe"); code == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 200 {
		t.Fatalf("the installed byoi does not serve /boot.ipxe on port 80 as user byoi: %d", code)
	}
	if code, body := get("/ui/login"); code != 200 || !strings.Contains(body, "byoi API token") {
		t.Errorf("GET /ui/login = %d", code)
	}
	token := strings.TrimSpace(run(t, "cat", filepath.Join(dir, "var/lib/byoi/admin.token")))
	code, body := get("/metrics", "Authorization: Bearer "+token)
	want := regexp.MustCompile(`byoi_build_info\{goversion="go[^"]+",revision="[^"]+",version="` + regexp.QuoteMeta(os.Getenv("BYOI_VERSION")) + `"\} 1`)
	if code != 200 || !want.MatchString(body) {
		t.Errorf("/metrics = %d, want byoi_build_info with the stamped version", code)
	}
	// DHCP on port 67 is bound (CAP_NET_BIND_SERVICE and SO_BINDTODEVICE).
	if ss := run(t, "ip", "netns", "exec", ns, "ss", "-lun"); !strings.Contains(ss, ":67 ") || !strings.Contains(ss, ":69 ") {
		t.Errorf("DHCP or TFTP not listening:\n%s", ss)
	}
	// The running server holds its state dir: a second one says so.
	if out, err := asUnit(start[0]).CombinedOutput(); err == nil || !strings.Contains(string(out), "already running (pid") {
		t.Errorf("second byoi on the same state dir: %v\n%s", err, out)
	}
	// A hot backup as root through the control socket.
	if out := run(t, "chroot", dir, "byoi", "backup", "--state-dir", "/var/lib/byoi", "/tmp/b.db"); !strings.Contains(out, "hot copy from the running server") {
		t.Errorf("backup: %s", out)
	}
}
