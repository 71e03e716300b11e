package dhcp

import (
	"context"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// FuzzHandle feeds arbitrary bytes through parsing and Reply in full and
// proxy mode on both ports: nothing may panic, and any reply must
// serialise and parse back.
func FuzzHandle(f *testing.F) {
	seeds := [][]dhcpv4.Modifier{
		pxeOpts(vcBIOS, boot.ArchTypeBIOS),
		pxeOpts(vcOVMF, boot.ArchTypeEFIX64),
		pxeOpts(vcHTTPx64, boot.ArchTypeEFIX64HTTP),
		ipxeOpts(vcIPXE, boot.ArchTypeEFIX64, ipxeModern),
		ipxeOpts(vcBIOS, boot.ArchTypeBIOS, ipxe2019),
		nil,
	}
	for _, opts := range seeds {
		for _, typ := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest} {
			f.Add(packet(f, typ, mac(1), opts...).ToBytes())
		}
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 6, 0})
	ctx := context.Background()
	peer := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, mode := range []Mode{ModeFull, ModeProxy} {
			s := newTestServer(t, testConfig(mode), newMemStore())
			for _, port := range []int{PortDHCP, PortPXE} {
				reply, dst := s.handle(ctx, raw, peer, port)
				if reply == nil {
					continue
				}
				if dst == nil {
					t.Fatalf("reply %s without a destination", reply.MessageType())
				}
				if _, err := dhcpv4.FromBytes(reply.ToBytes()); err != nil {
					t.Fatalf("reply does not parse back: %v", err)
				}
			}
		}
	})
}
