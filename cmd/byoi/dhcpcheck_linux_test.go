package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/netns"
)

// TestTwoServersOnOneSegment: a second byoi serve on a segment where one
// already answers PXE clients says so at start (before its own DHCP is
// up) and in byoi_dhcp_other_servers. Both run as real processes, each in
// a network namespace of its own on one veth.
func TestTwoServersOnOneSegment(t *testing.T) {
	netns.Require(t)
	bin := filepath.Join(t.TempDir(), "byoi")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	a, err := netns.New("byoi-two-a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := netns.New("byoi-two-b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Link(b, "eth0", "198.51.100.1/24", "eth0", "198.51.100.2/24"); err != nil {
		t.Fatal(err)
	}
	files := filesDir(t)
	serve := func(ns *netns.NS, extra ...string) (*exec.Cmd, *syncWriter) {
		args := append([]string{"serve", "--interface", "eth0", "--dhcp-mode", "proxy", "--tftp-listen", "", "--http-listen", ":8080",
			"--state-dir", t.TempDir(), "--files-dir", files}, extra...)
		cmd := ns.Command(context.Background(), bin, args...)
		logs := &syncWriter{w: &strings.Builder{}}
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
		return cmd, logs
	}
	_, logsA := serve(a, "--dhcp-no-probe")
	waitHTTP(t, a, "http://198.51.100.1:8080/boot.ipxe")
	_, logsB := serve(b)
	waitHTTP(t, b, "http://198.51.100.2:8080/boot.ipxe")
	got := logsB.String()
	if !strings.Contains(got, "another server answers PXE clients on this segment") || !strings.Contains(got, "server=198.51.100.1") {
		t.Errorf("second server's logs do not name the first:\n%s", got)
	}
	if i, j := strings.Index(got, "another server answers PXE"), strings.Index(got, "byoi serving"); i < 0 || j < i {
		t.Errorf("the warning should come before serving:\n%s", got)
	}
	token, err := os.ReadFile(filepath.Join(stateDirOf(t, logsB.String()), "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := b.Command(context.Background(), "curl", "-s", "-H", "Authorization: Bearer "+strings.TrimSpace(string(token)), "http://198.51.100.2:8080/metrics").Output()
	if err != nil || !strings.Contains(string(out), `byoi_dhcp_other_servers{interface="eth0",kind="pxe"} 1`) {
		t.Errorf("metrics of the second server lack the other PXE server (%v):\n%s", err, grepLines(string(out), "byoi_dhcp_other"))
	}
	_ = logsA
}

func waitHTTP(t *testing.T, ns *netns.NS, url string) {
	t.Helper()
	for i := 0; i < 150; i++ {
		if err := ns.Command(context.Background(), "curl", "-sf", "-o", "/dev/null", url).Run(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s does not answer", url)
}

// stateDirOf reads the state dir from the "byoi serving" log line.
func stateDirOf(t *testing.T, logs string) string {
	for _, l := range strings.Split(logs, "\n") {
		if i := strings.Index(l, " state="); i >= 0 && strings.Contains(l, "byoi serving") {
			return strings.Fields(l[i+len(" state="):])[0]
		}
	}
	t.Fatalf("no state dir in the logs:\n%s", logs)
	return ""
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
