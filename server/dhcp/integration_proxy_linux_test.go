package dhcp

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/e2e/netns"
)

// TestIntegrationProxyWithDnsmasq: dnsmasq is the lab's plain DHCP server,
// byoi runs in proxy mode, and a client that behaves like OVMF's PXE driver
// gets its address from dnsmasq and its boot file from byoi, including the
// port 4011 request.
func TestIntegrationProxyWithDnsmasq(t *testing.T) {
	netns.Require(t)
	dnsmasq := netns.RequireCommand(t, "dnsmasq")
	lan := newLAN(t)
	s, err := New(Config{Mode: ModeProxy, Interfaces: []string{"eth0"}, ServerIP: serverIP}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runInNS(t, lan.byoi, s)
	startDnsmasq(t, lan.lab, dnsmasq)

	var conn net.PacketConn
	if err := lan.client.Run(func() (err error) {
		conn, err = server4.NewIPv4UDPConn("br0", &net.UDPAddr{Port: dhcpv4.ClientPort})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hw := mac(0x42)
	pxe := append(pxeOpts(vcOVMF, boot.ArchTypeEFIX64),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionSubnetMask, dhcpv4.OptionRouter, dhcpv4.OptionVendorSpecificInformation,
			dhcpv4.OptionClassIdentifier, dhcpv4.OptionTFTPServerName, dhcpv4.OptionBootfileName))

	// DISCOVER until both the lab's offer and byoi's proxy offer arrived.
	var labOffer, proxyOffer *dhcpv4.DHCPv4
	for try := 0; try < 15 && (labOffer == nil || proxyOffer == nil); try++ {
		send(t, conn, packet(t, dhcpv4.MessageTypeDiscover, hw, pxe...), bcast67)
		await(conn, hw, time.Second, func(o *dhcpv4.DHCPv4) bool {
			switch {
			case o.MessageType() != dhcpv4.MessageTypeOffer:
			case o.ServerIdentifier().Equal(labIP):
				labOffer = o
			case o.ServerIdentifier().Equal(serverIP):
				proxyOffer = o
			}
			return labOffer != nil && proxyOffer != nil
		})
	}
	if labOffer == nil || proxyOffer == nil {
		t.Fatalf("offers: lab %v, byoi %v; want one from each", labOffer, proxyOffer)
	}
	if f := labOffer.BootFileName + labOffer.BootFileNameOption(); f != "" {
		t.Errorf("the lab's offer names boot file %q, want none (plain DHCP)", f)
	}
	checkBoot(t, "proxy OFFER", proxyOffer, "ipxe.efi")

	// Take the lab's address, as the firmware does.
	send(t, conn, packet(t, dhcpv4.MessageTypeRequest, hw, append(pxe,
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(labIP)),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(labOffer.YourIPAddr)))...), bcast67)
	ack := await(conn, hw, 5*time.Second, func(r *dhcpv4.DHCPv4) bool {
		return r.MessageType() == dhcpv4.MessageTypeAck && r.ServerIdentifier().Equal(labIP)
	})
	if ack == nil || !ack.YourIPAddr.Equal(labOffer.YourIPAddr) {
		t.Fatalf("lab ACK = %v, want ACK of %s", ack, labOffer.YourIPAddr)
	}
	addr := ack.YourIPAddr.To4()
	if addr[3] < 50 || addr[3] > 99 {
		t.Errorf("address %s is not from dnsmasq's range .50-.99", addr)
	}
	if err := lan.client.IP("addr", "add", addr.String()+"/24", "dev", "br0"); err != nil {
		t.Fatal(err)
	}

	// The BINL step: ask byoi (siaddr of its offer) on port 4011 from port 4011.
	var pc net.PacketConn
	if err := lan.client.Run(func() (err error) {
		pc, err = net.ListenPacket("udp4", net.JoinHostPort(addr.String(), "4011"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	req := packet(t, dhcpv4.MessageTypeRequest, hw, append(pxe, dhcpv4.WithClientIP(addr), dhcpv4.WithBroadcast(false))...)
	send(t, pc, req, &net.UDPAddr{IP: proxyOffer.ServerIPAddr, Port: PortPXE})
	bootAck := await(pc, hw, 5*time.Second, func(*dhcpv4.DHCPv4) bool { return true })
	if bootAck == nil || bootAck.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("port 4011 reply = %v, want ACK", bootAck)
	}
	checkBoot(t, "port 4011 ACK", bootAck, "ipxe.efi")
}

var (
	labIP   = net.IPv4(198, 51, 100, 2).To4()
	bcast67 = &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}
)

// checkBoot checks a proxyDHCP answer for a UEFI PXE client.
func checkBoot(t *testing.T, what string, r *dhcpv4.DHCPv4, file string) {
	t.Helper()
	if !r.YourIPAddr.IsUnspecified() {
		t.Errorf("%s yiaddr = %s, want 0.0.0.0 (proxyDHCP gives no address)", what, r.YourIPAddr)
	}
	if r.BootFileName != file || r.BootFileNameOption() != file {
		t.Errorf("%s boot file = %q (option 67 %q), want %q", what, r.BootFileName, r.BootFileNameOption(), file)
	}
	if vc := r.ClassIdentifier(); vc != "PXEClient" {
		t.Errorf("%s option 60 = %q, want PXEClient", what, vc)
	}
	if !r.ServerIPAddr.Equal(serverIP) {
		t.Errorf("%s siaddr = %s, want %s", what, r.ServerIPAddr, serverIP)
	}
}

func send(t *testing.T, c net.PacketConn, p *dhcpv4.DHCPv4, to net.Addr) {
	t.Helper()
	if _, err := c.WriteTo(p.ToBytes(), to); err != nil {
		t.Fatalf("send %s to %s: %v", p.MessageType(), to, err)
	}
}

// await reads replies for hw until match accepts one (returned) or d has
// passed (nil).
func await(c net.PacketConn, hw net.HardwareAddr, d time.Duration, match func(*dhcpv4.DHCPv4) bool) *dhcpv4.DHCPv4 {
	buf := make([]byte, maxPacket)
	_ = c.SetReadDeadline(time.Now().Add(d))
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return nil
		}
		p, err := dhcpv4.FromBytes(buf[:n])
		if err == nil && p.OpCode == dhcpv4.OpcodeBootReply && p.ClientHWAddr.String() == hw.String() && match(p) {
			return p
		}
	}
}

// lan is one Ethernet segment: bridge br0 in the client's namespace, with
// byoi (198.51.100.1) and the lab's DHCP server (198.51.100.2) attached.
type lan struct{ client, byoi, lab *netns.NS }

func newLAN(t *testing.T) lan {
	t.Helper()
	var l lan
	for _, p := range []struct {
		ns     **netns.NS
		prefix string
	}{{&l.client, "byoi-dhcp-cli"}, {&l.byoi, "byoi-dhcp-srv"}, {&l.lab, "byoi-dhcp-lab"}} {
		ns, err := netns.New(p.prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ns.Close() })
		*p.ns = ns
	}
	if err := l.client.AddBridge("br0", ""); err != nil {
		t.Fatal(err)
	}
	for _, peer := range []struct {
		ns   *netns.NS
		port string
		cidr string
	}{{l.byoi, "vbyoi", "198.51.100.1/24"}, {l.lab, "vlab", "198.51.100.2/24"}} {
		if err := l.client.Link(peer.ns, peer.port, "", "eth0", peer.cidr); err != nil {
			t.Fatal(err)
		}
		if err := l.client.IP("link", "set", peer.port, "master", "br0"); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// startDnsmasq runs dnsmasq as a plain DHCP server in ns and stops it (by
// PID) when the test ends.
func startDnsmasq(t *testing.T, ns *netns.NS, bin string) {
	t.Helper()
	dir := t.TempDir()
	cmd := ns.Command(context.Background(), bin, "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=eth0", "--bind-interfaces", "--dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--pid-file="+filepath.Join(dir, "pid"),
		"--log-dhcp", "--log-facility=-")
	var logBuf strings.Builder
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dnsmasq: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("dnsmasq log:\n%s", logBuf.String())
		}
	})
}
