package dhcp

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/netns"
	"github.com/byoi/byoi/store"
)

// The bbolt store is the Store byoi runs with.
var _ Store = (*store.Store)(nil)

// runInNS starts s.ListenAndServe with its sockets created inside ns and
// returns a function that stops it and reports its error.
func runInNS(t *testing.T, ns *netns.NS, s *Server) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ns.Run(func() error { return s.ListenAndServe(ctx) }) }()
	var stopped bool
	var result error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("ListenAndServe did not return after cancel")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// udhcpcScript records what udhcpc reports: "<event> <ip>" per line.
const udhcpcScript = `#!/bin/sh
echo "$1 $ip $subnet $router $dns $lease" >> "%s"
`

var boundRE = regexp.MustCompile(`(?m)^bound (\S+) (\S*) (\S*) (\S*) (\S*)$`)

// udhcpc runs busybox udhcpc once on ifname inside ns and returns the
// address it was bound to, with the other reported fields.
func udhcpc(t *testing.T, ns *netns.NS, bin, ifname string) []string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "events")
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte(strings.Replace(udhcpcScript, "%s", out, 1)), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-f", "-q", "-n", "-i", ifname, "-t", "10", "-T", "1", "-s", script}
	if filepath.Base(bin) == "busybox" {
		args = append([]string{"udhcpc"}, args...)
	}
	cmd := ns.Command(ctx, bin, args...)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, log)
	}
	events, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("udhcpc reported nothing: %v\n%s", err, log)
	}
	m := boundRE.FindStringSubmatch(string(events))
	if m == nil {
		t.Fatalf("udhcpc events %q have no bound line\n%s", events, log)
	}
	return m[1:]
}

func udhcpcBinary(t *testing.T) string {
	if p, err := exec.LookPath("udhcpc"); err == nil {
		return p
	}
	return netns.RequireCommand(t, "busybox")
}

// TestIntegrationFullUdhcpc: busybox udhcpc gets a lease from byoi in full
// mode, and the same address from a restarted server on the same store,
// even after another client took the next address.
func TestIntegrationFullUdhcpc(t *testing.T) {
	netns.Require(t)
	bin := udhcpcBinary(t)
	srvNS, err := netns.New("byoi-dhcp-srv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srvNS.Close() })
	cliNS, err := netns.New("byoi-dhcp-cli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cliNS.Close() })
	if err := srvNS.Link(cliNS, "dhcp0", "198.51.100.1/24", "eth0", ""); err != nil {
		t.Fatal(err)
	}
	macA, macB := "02:00:00:00:00:0a", "02:00:00:00:00:0b"
	setMAC := func(m string) {
		t.Helper()
		if err := cliNS.IP("link", "set", "eth0", "address", m); err != nil {
			t.Fatal(err)
		}
	}
	dbPath := filepath.Join(t.TempDir(), "byoi.db")
	cfg := Config{
		Mode: ModeFull, Interfaces: []string{"dhcp0"}, ServerIP: serverIP,
		PoolStart: serverIP, PoolEnd: net.IPv4(198, 51, 100, 110), // .1 is skipped: it is the server
		Router: serverIP, DNS: []net.IP{serverIP}, LeaseTime: 10 * time.Minute,
	}
	start := func() (*store.Store, func() error) {
		st, err := store.Open(dbPath, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(cfg, st)
		if err != nil {
			t.Fatal(err)
		}
		return st, runInNS(t, srvNS, s)
	}

	st, stop := start()
	setMAC(macA)
	got := udhcpc(t, cliNS, bin, "eth0")
	want := []string{"198.51.100.2", "255.255.255.0", "198.51.100.1", "198.51.100.1", "600"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("udhcpc bound = %v, want ip/subnet/router/dns/lease %v", got, want)
	}
	if err := stop(); err != nil {
		t.Fatalf("ListenAndServe() = %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, stop = start()
	defer st.Close()
	setMAC(macB)
	if got := udhcpc(t, cliNS, bin, "eth0")[0]; got != "198.51.100.3" {
		t.Errorf("second client after restart got %s, want 198.51.100.3 (.2 is stored for %s)", got, macA)
	}
	setMAC(macA)
	if got := udhcpc(t, cliNS, bin, "eth0")[0]; got != want[0] {
		t.Errorf("after restart %s got %s, want its old address %s", macA, got, want[0])
	}
	if err := stop(); err != nil {
		t.Fatalf("ListenAndServe() = %v", err)
	}
}

// TestIntegrationOnlyConfiguredInterface: byoi answers on the interfaces
// it was given and stays silent on the others.
func TestIntegrationOnlyConfiguredInterface(t *testing.T) {
	netns.Require(t)
	bin := udhcpcBinary(t)
	var srv, served, other *netns.NS
	for _, p := range []struct {
		ns     **netns.NS
		prefix string
	}{{&srv, "byoi-dhcp-srv"}, {&served, "byoi-dhcp-in"}, {&other, "byoi-dhcp-out"}} {
		ns, err := netns.New(p.prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ns.Close() })
		*p.ns = ns
	}
	if err := srv.Link(served, "dhcp0", "198.51.100.1/25", "eth0", ""); err != nil {
		t.Fatal(err)
	}
	if err := srv.Link(other, "dhcp1", "198.51.100.129/25", "eth0", ""); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Mode: ModeFull, Interfaces: []string{"dhcp0"}, ServerIP: serverIP,
		Netmask: net.CIDRMask(25, 32)}, newMemStore())
	if err != nil {
		t.Fatal(err)
	}
	runInNS(t, srv, s)
	if got := udhcpc(t, served, bin, "eth0")[0]; got != "198.51.100.64" {
		t.Errorf("lease on the served interface = %s, want 198.51.100.64", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-f", "-q", "-n", "-i", "eth0", "-t", "3", "-T", "1", "-s", "/bin/true"}
	if filepath.Base(bin) == "busybox" {
		args = append([]string{"udhcpc"}, args...)
	}
	if out, err := other.Command(ctx, bin, args...).CombinedOutput(); err == nil {
		t.Errorf("udhcpc on the unserved interface got a lease, want none:\n%s", out)
	}
}
