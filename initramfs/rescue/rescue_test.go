package rescue

import (
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Public keys (no secrets) made by ssh-keygen -t ed25519, -t rsa -b 2048
// and -t ecdsa.
const (
	edKey    = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJItXTwH/rl9a9CCYDYVHRSA2ThxTPRHdUNXDkoXfXoz test key"
	rsaKey   = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDfJ92UESaDu2k0UDtkC/lxHU0blKht/OwtqMUYfMOBX8ws3IrDvIegn3PqPRy4cmjewKNSkpBt9MvW2qAp+e63thoOy5/WtTEY0muN3XspHg+cUo2yS3Ric/i2SGrPFj7rNK+Eq3LjWBXUWYfGDvcM86gulB5+WU7OG1jGorZTUQrgmBw9sa8uXqWxqZfRjqnAhexMiqS3Zt65bxSrFiu96fPuje4KgkW6eSnrbiiaWWENYLyjkWkxnEAA7sIljpoPXHVxkNu89ktb44aARkjNKhfZjy8ZLdKAusnPq/EwSkibXhG9WizYZGBVAJaNcGtw1BFERoOmsmT7fzGH4nT9 rsa test"
	ecdsaKey = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGyoid+XtI2DrzLsUpXYOJ/YSLngclhnXkir0Icz8w1DBTI7dnwFAwLbaQQJWWYek6EnjgWWPPAcpROFlqKvgwY="
)

// needKeygen returns ssh-keygen's path; a missing one fails under
// BYOI_INTEGRATION=1 (scripts/install-deps.sh test installs openssh-client).
func needKeygen(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err != nil {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("BYOI_INTEGRATION=1 but ssh-keygen is missing: %v", err)
		}
		t.Skip("no ssh-keygen (Debian openssh-client)")
	}
	return p
}

func TestPrepare(t *testing.T) {
	root := t.TempDir()
	s := System{Root: root}
	keys := []string{edKey, "  " + rsaKey + "\n"}
	if err := s.Prepare("rack1-07", keys); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
		want string
	}{
		{"/root", os.ModeDir | 0o700, ""},
		{"/root/.ssh", os.ModeDir | 0o700, ""},
		{"/run/sshd", os.ModeDir | 0o755, ""},
		{AuthorizedKeys, 0o600, edKey + "\n" + rsaKey + "\n"},
		{MotdFile, 0o644, "byoi rescue system for rack1-07"},
	} {
		p := filepath.Join(root, f.path)
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("Prepare did not write %s: %v", f.path, err)
			continue
		}
		if fi.Mode() != f.mode {
			t.Errorf("%s mode = %v, want %v", f.path, fi.Mode(), f.mode)
		}
		if f.want != "" {
			b, _ := os.ReadFile(p)
			if !strings.Contains(string(b), f.want) {
				t.Errorf("%s = %q, want it to contain %q", f.path, b, f.want)
			}
		}
	}
	// A machine name cannot break the login message's lines.
	if err := s.Prepare("evil\r\n\x1b[2Jname", nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, MotdFile)); !strings.Contains(string(b), "for evil[2Jname:") {
		t.Errorf("motd = %q, want control characters dropped from the name", b)
	}
}

// TestConfigGolden pins the sshd configuration of the real machine (Root /).
func TestConfigGolden(t *testing.T) {
	got := System{}.withDefaults().config()
	p := filepath.Join("testdata", "sshd_config")
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read golden file (go test -update writes it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("sshd_config differs from testdata/sshd_config (-want +got):\n%s", diff)
	}
	for _, line := range []string{"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
		"UsePAM no", "AuthorizedKeysFile /root/.ssh/authorized_keys", "HostKey /etc/ssh/ssh_host_ed25519_key"} {
		if !strings.Contains(got, "\n"+line+"\n") {
			t.Errorf("sshd_config lacks %q", line)
		}
	}
}

func TestPrepareRefusesBadKeys(t *testing.T) {
	root := t.TempDir()
	err := System{Root: root}.Prepare("m", []string{edKey, edKey + "\ncommand=\"sh\" " + edKey})
	if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "SSH key 2") {
		t.Fatalf("Prepare(two-line key) error = %v, want ErrBadKey for key 2", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("Prepare wrote %d entries before refusing a key, want none", len(entries))
	}
}

// TestMain lets the test binary stand in for sshd: Serve starts it with
// BYOI_FAKE_SSHD in its environment.
func TestMain(m *testing.M) {
	if mode := os.Getenv("BYOI_FAKE_SSHD"); mode != "" {
		fakeSSHD(mode)
		return
	}
	os.Exit(m.Run())
}

// fakeSSHD records its arguments in BYOI_FAKE_SSHD_RUNS, then, by mode:
// "exit" exits 3 at once; "listen-briefly" listens on BYOI_FAKE_SSHD_PORT
// for 300 ms then exits 255; "listen" listens until killed.
func fakeSSHD(mode string) {
	f, err := os.OpenFile(os.Getenv("BYOI_FAKE_SSHD_RUNS"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		f.WriteString(strings.Join(os.Args[1:], " ") + "\n")
		f.Close()
	}
	if mode == "exit" {
		os.Exit(3)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("BYOI_FAKE_SSHD_PORT"))
	if err != nil {
		os.Exit(4)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if mode == "listen-briefly" {
		time.Sleep(300 * time.Millisecond)
		os.Exit(255)
	}
	select {}
}

// fakeSystem is a System whose sshd is this test binary in the given mode.
func fakeSystem(t *testing.T, mode string) (System, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	runs := filepath.Join(dir, "runs")
	t.Setenv("BYOI_FAKE_SSHD", mode)
	t.Setenv("BYOI_FAKE_SSHD_PORT", strconv.Itoa(port))
	t.Setenv("BYOI_FAKE_SSHD_RUNS", runs)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return System{Root: dir, SSHD: self, Port: port, RestartWait: 50 * time.Millisecond}, runs
}

func countRuns(t *testing.T, runs string) []string {
	t.Helper()
	b, _ := os.ReadFile(runs)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func TestServeRestarts(t *testing.T) {
	s, runs := fakeSystem(t, "listen-briefly")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var pids []int
	errc := make(chan error, 1)
	go func() {
		errc <- s.Serve(ctx, func(pid int) {
			mu.Lock()
			defer mu.Unlock()
			pids = append(pids, pid)
			if len(pids) == 3 {
				cancel()
			}
		})
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not get sshd listening three times in 30 s")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pids) != 3 || pids[0] == pids[1] || pids[1] == pids[2] {
		t.Errorf("Serve reported PIDs %v ready, want three different processes", pids)
	}
	wantArgs := "-D -e -f " + filepath.Join(s.Root, ConfigFile)
	if got := countRuns(t, runs); len(got) < 3 || got[0] != wantArgs {
		t.Errorf("sshd ran with %q, want at least 3 runs with %q", got, wantArgs)
	}
}

// TestServeNotReady: an sshd that exits before listening is started again
// and again, and never reported ready.
func TestServeNotReady(t *testing.T) {
	s, runs := fakeSystem(t, "exit")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	readyCalls := 0
	err := s.Serve(ctx, func(int) { readyCalls++ })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v, want its context's deadline", err)
	}
	if readyCalls != 0 {
		t.Errorf("ready called %d times for an sshd that never listened", readyCalls)
	}
	// Pauses of 50 ms, 100, 200, 400, 800, 1600: at most 7 runs in 3 s,
	// fewer when starting the (race-built) test binary is slow.
	if n := len(countRuns(t, runs)); n < 2 || n > 7 {
		t.Errorf("sshd started %d times in 3 s with pauses doubling from 50 ms, want 2-7", n)
	}
}

// TestServeStops checks a running sshd is stopped when the context ends.
func TestServeStops(t *testing.T) {
	s, _ := fakeSystem(t, "listen")
	ctx, cancel := context.WithCancel(context.Background())
	pid := make(chan int, 1)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, func(p int) { pid <- p }) }()
	var p int
	select {
	case p = <-pid:
	case <-time.After(30 * time.Second):
		t.Fatal("sshd not ready after 30 s")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return 10 s after its context ended")
	}
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(p))); err == nil {
		t.Errorf("sshd (PID %d) still runs after Serve returned", p)
	}
	if err := (System{Root: t.TempDir(), SSHD: "/nonexistent/sshd"}).Serve(context.Background(), nil); err == nil {
		t.Error("Serve(missing sshd) = nil, want an error")
	}
}

func TestListensIn(t *testing.T) {
	// /proc/net/tcp6 with a listener on 22 and a connection from port 8080.
	table := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
`
	for _, tc := range []struct {
		port int
		want bool
	}{{22, true}, {8080, false}, {2222, false}} {
		if got := listensIn(table, tc.port); got != tc.want {
			t.Errorf("listensIn(table, %d) = %v, want %v", tc.port, got, tc.want)
		}
	}
}
