package probe

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoi/byoi/e2e/netns"
)

// lab is two namespaces on one veth: "lab" (198.51.100.2, runs dnsmasq)
// and "byoi" (198.51.100.1, runs the probe).
func lab(t *testing.T) (labNS, byoiNS *netns.NS) {
	t.Helper()
	netns.Require(t)
	var err error
	if labNS, err = netns.New("byoi-probe-lab"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = labNS.Close() })
	if byoiNS, err = netns.New("byoi-probe-srv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = byoiNS.Close() })
	if err := labNS.Link(byoiNS, "eth0", "198.51.100.2/24", "eth0", "198.51.100.1/24"); err != nil {
		t.Fatal(err)
	}
	return labNS, byoiNS
}

func dnsmasq(t *testing.T, ns *netns.NS, extra ...string) {
	t.Helper()
	bin := netns.RequireCommand(t, "dnsmasq")
	dir := t.TempDir()
	args := append([]string{"--no-daemon", "--conf-file=/dev/null", "--port=0", "--interface=eth0", "--bind-interfaces",
		"--no-ping", "--dhcp-leasefile=" + filepath.Join(dir, "leases"), "--pid-file=" + filepath.Join(dir, "pid"), "--log-dhcp", "--log-facility=-"}, extra...)
	cmd := ns.Command(context.Background(), bin, args...)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq:\n%s", log.String())
		}
	})
}

func probeIn(t *testing.T, ns *netns.NS, ignore ...net.IP) []Server {
	t.Helper()
	var found []Server
	err := ns.Run(func() (err error) {
		found, err = Run(context.Background(), Config{Interface: "eth0", Ignore: ignore})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestProbeFindsServers runs the probe against real dnsmasq as the lab's
// plain DHCP server, as a DHCP server offering a PXE boot file, and as a
// proxyDHCP server; and with nothing, or only byoi itself, on the segment.
func TestProbeFindsServers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dnsmasq []string // nil: no dnsmasq
		ignore  bool     // ignore the lab's address (as byoi ignores itself)
		want    string   // "" for nothing found, else "kind bootfile pxe"
	}{
		{"nothing", nil, false, ""},
		{"plain DHCP", []string{"--dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,1h"}, false, "dhcp  false"},
		{"DHCP with a PXE boot file", []string{"--dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,1h", "--dhcp-boot=pxelinux.0"}, false, "dhcp pxelinux.0 true"},
		{"proxyDHCP", []string{"--dhcp-range=198.51.100.0,proxy", "--pxe-service=x86-64_EFI,boot,bootx64"}, false, "proxydhcp"},
		{"only itself", []string{"--dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,1h"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labNS, byoiNS := lab(t)
			if tc.dnsmasq != nil {
				dnsmasq(t, labNS, tc.dnsmasq...)
			}
			var ignore []net.IP
			if tc.ignore {
				ignore = []net.IP{net.IPv4(198, 51, 100, 2)}
			}
			var found []Server
			for try := 0; try < 3 && len(found) == 0; try++ { // dnsmasq may still be starting
				found = probeIn(t, byoiNS, ignore...)
				if tc.want == "" {
					break
				}
			}
			if tc.want == "" {
				if len(found) != 0 {
					t.Errorf("probe found %+v, want nothing", found)
				}
				return
			}
			if len(found) != 1 || !found[0].IP.Equal(net.IPv4(198, 51, 100, 2)) {
				t.Fatalf("probe found %+v, want the lab's server 198.51.100.2", found)
			}
			s := found[0]
			got := s.Kind + " " + s.BootFile + " " + map[bool]string{true: "true", false: "false"}[s.PXE()]
			if s.Kind == KindProxy {
				got = s.Kind
			}
			if got != tc.want {
				t.Errorf("probe found %q, want %q", got, tc.want)
			}
		})
	}
}
