package dhcp

import (
	"bytes"
	"context"
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/byoi/byoi/boot"
)

// withTail cuts p's wire form at its End option and appends tail (raw
// option bytes, possibly malformed) and a new End.
func withTail(t *testing.T, p *dhcpv4.DHCPv4, tail []byte) []byte {
	t.Helper()
	raw := p.ToBytes()
	i := 240 // after the magic cookie
	for i < len(raw) && raw[i] != 255 {
		if raw[i] == 0 {
			i++
			continue
		}
		i += 2 + int(raw[i+1])
	}
	if i >= len(raw) {
		t.Fatalf("no End option in %x", raw)
	}
	return append(append(append([]byte(nil), raw[:i]...), tail...), 255)
}

// TestHostilePackets: packets with absurd option lengths, truncated
// options or garbage in option 175 get no answer in either mode, on either
// port, are counted as malformed and never crash the server.
func TestHostilePackets(t *testing.T) {
	disc := func(opts ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
		return packet(t, dhcpv4.MessageTypeDiscover, mac(7), opts...)
	}
	efi := pxeOpts(vcOVMF, boot.ArchTypeEFIX64)
	noArch := []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vcOVMF))}
	ipxeNo175 := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vcIPXE)),
		dhcpv4.WithGeneric(optClientArch, []byte{0, 7}),
		dhcpv4.WithGeneric(dhcpv4.OptionUserClassInformation, []byte("iPXE")),
	}
	odd255 := bytes.Repeat([]byte{0, 7}, 128)[:255]
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"option 93 of length 255", disc(append(noArch, dhcpv4.WithGeneric(optClientArch, odd255))...).ToBytes()},
		{"option 93 of odd length", disc(append(noArch, dhcpv4.WithGeneric(optClientArch, []byte{0, 7, 0}))...).ToBytes()},
		{"option 93 with 64 types", disc(append(noArch, dhcpv4.WithGeneric(optClientArch, bytes.Repeat([]byte{0, 7}, 64)))...).ToBytes()},
		{"option 93 empty", disc(append(noArch, dhcpv4.WithGeneric(optClientArch, nil))...).ToBytes()},
		{"option 93 truncated", withTail(t, disc(noArch...), []byte{93, 200, 0, 7})},
		{"option length past the packet", withTail(t, disc(efi...), []byte{60, 255, 'P', 'X', 'E'})},
		{"option code without a length", withTail(t, disc(efi...), []byte{93})},
		{"option 175 inner length overruns", disc(append(ipxeNo175, dhcpv4.WithGeneric(optIPXEEncap, []byte{0x10, 200, 1}))...).ToBytes()},
		{"option 175 inner code without length", disc(append(ipxeNo175, dhcpv4.WithGeneric(optIPXEEncap, []byte{0x10, 1, 1, 0x13}))...).ToBytes()},
		{"option 175 random garbage", disc(append(ipxeNo175, dhcpv4.WithGeneric(optIPXEEncap, []byte{0xde, 0xad, 0xbe, 0xef, 0xff, 0x01}))...).ToBytes()},
		{"header only", disc(efi...).ToBytes()[:236]},
		{"hardware length 16", func() []byte { b := disc(efi...).ToBytes(); b[2] = 16; return b }()},
		{"reply opcode", func() []byte { b := disc(efi...).ToBytes(); b[0] = 2; return b }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []Mode{ModeProxy, ModeFull} {
				reg := prometheus.NewRegistry()
				cfg := testConfig(mode)
				cfg.Registerer = reg
				s := newTestServer(t, cfg, newMemStore())
				for _, port := range []int{PortDHCP, PortPXE} {
					before := malformedCount(t, s)
					reply, _ := s.handle(context.Background(), tc.raw, &net.UDPAddr{IP: net.IPv4zero, Port: 68}, port)
					if reply != nil {
						t.Errorf("%s mode, port %d: handle() = %s reply, want none", mode, port, reply.MessageType())
					}
					if got := malformedCount(t, s) - before; got != 1 {
						t.Errorf("%s mode, port %d: malformed count went up by %v, want 1", mode, port, got)
					}
				}
			}
		})
	}
}

// TestProxyIgnoresNonPXE: in proxy mode only network-boot clients get an
// answer; an ordinary DHCP client is left to the network's DHCP server.
func TestProxyIgnoresNonPXE(t *testing.T) {
	s := newTestServer(t, testConfig(ModeProxy), newMemStore())
	for _, tc := range []struct {
		name string
		opts []dhcpv4.Modifier
		want bool
	}{
		{"no vendor class", nil, false},
		{"Windows", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("MSFT 5.0"))}, false},
		{"udhcpc", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("udhcp 1.36.1"))}, false},
		{"android", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("android-dhcp-14"))}, false},
		{"PXE lookalike", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("pxeclient"))}, false},
		{"arch without PXE vendor class", []dhcpv4.Modifier{dhcpv4.WithGeneric(optClientArch, []byte{0, 7})}, false},
		{"UEFI PXE (control)", pxeOpts(vcOVMF, boot.ArchTypeEFIX64), true},
		{"BIOS PXE (control)", pxeOpts(vcBIOS, boot.ArchTypeBIOS), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform} {
				raw := packet(t, typ, mac(9), tc.opts...).ToBytes()
				reply, _ := s.handle(context.Background(), raw, &net.UDPAddr{IP: net.IPv4zero, Port: 68}, PortDHCP)
				want := tc.want && typ == dhcpv4.MessageTypeDiscover
				if (reply != nil) != want {
					t.Errorf("proxy handle(%s from %s) answered = %v, want %v", typ, tc.name, reply != nil, want)
				}
			}
		})
	}
}

// malformedCount reads byoi_dhcp_packets_total{type="malformed",outcome="dropped"}.
func malformedCount(t *testing.T, s *Server) float64 {
	t.Helper()
	var m dto.Metric
	if err := s.packets.WithLabelValues("malformed", "dropped").Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}
