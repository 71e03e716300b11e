package dhcp

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var (
	serverIP   = net.IPv4(198, 51, 100, 1).To4()
	routerIP   = net.IPv4(198, 51, 100, 254).To4()
	dnsIP      = net.IPv4(198, 51, 100, 53).To4()
	clientUUID = append([]byte{0}, []byte("0123456789abcdef")...)
)

// testConfig is the configuration of the golden tests.
func testConfig(mode Mode) Config {
	return Config{
		Mode:      mode,
		ServerIP:  serverIP,
		BaseURL:   "http://198.51.100.1:8080",
		PoolStart: net.IPv4(198, 51, 100, 100),
		PoolEnd:   net.IPv4(198, 51, 100, 199),
		Router:    routerIP,
		DNS:       []net.IP{dnsIP},
		LeaseTime: 2 * time.Hour,
	}
}

// newTestServer returns a server with a fixed clock.
func newTestServer(t testing.TB, cfg Config, st Store) *Server {
	t.Helper()
	s, err := New(cfg, st)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s.now = func() time.Time { return clock }
	return s
}

func mac(last byte) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, last} }

// packet builds a request of type t from hw with extra options.
func packet(t testing.TB, typ dhcpv4.MessageType, hw net.HardwareAddr, opts ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	mods := append([]dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithHwAddr(hw),
		dhcpv4.WithTransactionID(dhcpv4.TransactionID{0xb0, 0x01, 0x00, hw[5]}),
		dhcpv4.WithBroadcast(true),
	}, opts...)
	p, err := dhcpv4.New(mods...)
	if err != nil {
		t.Fatalf("dhcpv4.New() = %v", err)
	}
	return p
}

// Client option sets as real firmware sends them.
func pxeOpts(vendorClass string, arch uint16) []dhcpv4.Modifier {
	return []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendorClass)),
		dhcpv4.WithGeneric(optClientArch, []byte{byte(arch >> 8), byte(arch)}),
		dhcpv4.WithGeneric(optClientUUID, clientUUID),
	}
}

func ipxeOpts(vendorClass string, arch uint16, encap []byte) []dhcpv4.Modifier {
	return append(pxeOpts(vendorClass, arch),
		dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE")),
		dhcpv4.WithGeneric(optIPXEEncap, encap),
	)
}

// render is the golden form of a reply: header fields, then every option
// in wire order with its value in hex (and as text when printable).
func render(p *dhcpv4.DHCPv4) string {
	if p == nil {
		return "no reply\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "op: %s\nxid: %s\nflags: %s\n", p.OpCode, p.TransactionID, p.FlagsToString())
	fmt.Fprintf(&b, "ciaddr: %s\nyiaddr: %s\nsiaddr: %s\ngiaddr: %s\nchaddr: %s\n",
		p.ClientIPAddr, p.YourIPAddr, p.ServerIPAddr, p.GatewayIPAddr, p.ClientHWAddr)
	fmt.Fprintf(&b, "sname: %q\nfile: %q\n", p.ServerHostName, p.BootFileName)
	var codes []int
	for c := range p.Options {
		codes = append(codes, int(c))
	}
	sort.Ints(codes)
	for _, c := range codes {
		v := p.Options[uint8(c)]
		fmt.Fprintf(&b, "option %d: %s", c, hex.EncodeToString(v))
		if printable(v) {
			fmt.Fprintf(&b, " %q", v)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "wire: %s\n", hex.EncodeToString(p.ToBytes()))
	return b.String()
}

func printable(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// golden compares got with testdata/name.golden, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("reply differs from %s (-want +got):\n%s", path, diff)
	}
}

func reply(t testing.TB, s *Server, req *dhcpv4.DHCPv4, port int) *dhcpv4.DHCPv4 {
	t.Helper()
	r, err := s.Reply(context.Background(), req, port)
	if err != nil {
		t.Fatalf("Reply(%s) = %v", req.MessageType(), err)
	}
	return r
}
