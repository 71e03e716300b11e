package dhcp

import (
	"context"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// BenchmarkStormLeases: 1000 clients DISCOVER, then each REQUESTs what it
// was offered (a boot storm's burst: every offer is pending when the
// REQUESTs come), on a /15 pool against an in-memory store. One iteration
// is the whole storm; µs/client is the server's CPU per client.
func BenchmarkStormLeases(b *testing.B) {
	cfg := testConfig(ModeFull)
	cfg.ServerIP = net.IPv4(198, 18, 0, 1)
	cfg.Netmask = net.CIDRMask(15, 32)
	cfg.BaseURL = "http://198.18.0.1:8080"
	cfg.PoolStart, cfg.PoolEnd = net.IPv4(198, 18, 1, 1), net.IPv4(198, 19, 255, 254)
	cfg.Router, cfg.DNS = nil, nil
	const clients = 1000
	discovers := make([]*dhcpv4.DHCPv4, clients)
	for i := range clients {
		hw := net.HardwareAddr{0x02, 0xb7, 0x01, 0x00, byte(i >> 8), byte(i)}
		discovers[i] = packet(b, dhcpv4.MessageTypeDiscover, hw, pxeOpts(vcOVMF, 7)...)
	}
	ctx := context.Background()
	for b.Loop() {
		s := newTestServer(b, cfg, newMemStore())
		offers := make([]*dhcpv4.DHCPv4, clients)
		for i, d := range discovers {
			off, err := s.Reply(ctx, d, PortDHCP)
			if err != nil || off == nil {
				b.Fatalf("DISCOVER = %v, %v", off, err)
			}
			offers[i] = off
		}
		for i, d := range discovers {
			off := offers[i]
			req := packet(b, dhcpv4.MessageTypeRequest, d.ClientHWAddr, append(pxeOpts(vcOVMF, 7),
				dhcpv4.WithOption(dhcpv4.OptServerIdentifier(cfg.ServerIP)),
				dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr)))...)
			if ack, err := s.Reply(ctx, req, PortDHCP); err != nil || ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck {
				b.Fatalf("REQUEST = %v, %v", ack, err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*clients)/1e3, "µs/client")
}
