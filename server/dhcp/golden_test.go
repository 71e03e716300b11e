package dhcp

import (
	"net"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// iPXE option 175 bodies: sub-option 0x14 (20) is HTTPS support.
var (
	ipxeModern = []byte{0x10, 1, 1, 0x13, 1, 1, 0x14, 1, 1, 0x15, 1, 1, 0x17, 1, 1, 0x19, 1, 1}
	ipxe2019   = []byte{0x10, 1, 1, 0x13, 1, 1, 0x15, 1, 1, 0x17, 1, 1, 0x19, 1, 1}
)

// Vendor classes as firmware sends them.
const (
	vcBIOS    = "PXEClient:Arch:00000:UNDI:002001"
	vcOVMF    = "PXEClient:Arch:00007:UNDI:003001"
	vcHTTPx64 = "HTTPClient:Arch:00016:UNDI:003001"
	vcARM64   = "PXEClient:Arch:00011:UNDI:003000"
	vcIPXE    = "PXEClient:Arch:00007:UNDI:003010"
)

func TestReplyGolden(t *testing.T) {
	request := func(extra ...dhcpv4.Modifier) []dhcpv4.Modifier {
		return append([]dhcpv4.Modifier{
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(serverIP)),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(198, 51, 100, 100))),
		}, extra...)
	}
	pxeRequest := func(opts ...dhcpv4.Modifier) []dhcpv4.Modifier {
		// The 4011 REQUEST: the client already has its address (from the lab's server).
		return append([]dhcpv4.Modifier{dhcpv4.WithClientIP(net.IPv4(198, 51, 100, 57))}, opts...)
	}
	tests := []struct {
		name     string
		mode     Mode
		snpOnly  bool
		port     int
		typ      dhcpv4.MessageType
		opts     []dhcpv4.Modifier
		wantType dhcpv4.MessageType // MessageTypeNone: no reply
		wantYI   string
		wantFile string
		wantVC   string
		want43   bool
	}{
		{"bios-pxe-full", ModeFull, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcBIOS, boot.ArchTypeBIOS),
			dhcpv4.MessageTypeOffer, "198.51.100.100", "undionly.kpxe", "PXEClient", true},
		{"bios-pxe-full-request", ModeFull, false, PortDHCP, dhcpv4.MessageTypeRequest, request(pxeOpts(vcBIOS, boot.ArchTypeBIOS)...),
			dhcpv4.MessageTypeAck, "198.51.100.100", "undionly.kpxe", "PXEClient", true},
		{"bios-pxe-proxy", ModeProxy, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcBIOS, boot.ArchTypeBIOS),
			dhcpv4.MessageTypeOffer, "0.0.0.0", "undionly.kpxe", "PXEClient", true},
		{"uefi-x64-pxe-full", ModeFull, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcOVMF, boot.ArchTypeEFIX64),
			dhcpv4.MessageTypeOffer, "198.51.100.100", "ipxe.efi", "PXEClient", false},
		{"uefi-x64-pxe-full-snponly", ModeFull, true, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcOVMF, boot.ArchTypeEFIX64),
			dhcpv4.MessageTypeOffer, "198.51.100.100", "snponly.efi", "PXEClient", false},
		{"uefi-x64-pxe-proxy", ModeProxy, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcOVMF, boot.ArchTypeEFIX64),
			dhcpv4.MessageTypeOffer, "0.0.0.0", "ipxe.efi", "PXEClient", false},
		{"uefi-x64-pxe-proxy-4011", ModeProxy, false, PortPXE, dhcpv4.MessageTypeRequest, pxeRequest(pxeOpts(vcOVMF, boot.ArchTypeEFIX64)...),
			dhcpv4.MessageTypeAck, "0.0.0.0", "ipxe.efi", "PXEClient", false},
		{"uefi-x64-pxe-proxy-request-67", ModeProxy, false, PortDHCP, dhcpv4.MessageTypeRequest, request(pxeOpts(vcOVMF, boot.ArchTypeEFIX64)...),
			dhcpv4.MessageTypeNone, "", "", "", false},
		{"uefi-http-full", ModeFull, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcHTTPx64, boot.ArchTypeEFIX64HTTP),
			dhcpv4.MessageTypeOffer, "198.51.100.100", "http://198.51.100.1:8080/files/ipxe.efi", "HTTPClient", false},
		{"uefi-http-proxy", ModeProxy, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcHTTPx64, boot.ArchTypeEFIX64HTTP),
			dhcpv4.MessageTypeOffer, "0.0.0.0", "http://198.51.100.1:8080/files/ipxe.efi", "HTTPClient", false},
		{"arm64-pxe-full", ModeFull, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcARM64, boot.ArchTypeEFIARM64),
			dhcpv4.MessageTypeOffer, "198.51.100.100", "ipxe-arm64.efi", "PXEClient", false},
		{"ipxe-modern-full", ModeFull, false, PortDHCP, dhcpv4.MessageTypeDiscover, ipxeOpts(vcIPXE, boot.ArchTypeEFIX64, ipxeModern),
			dhcpv4.MessageTypeOffer, "198.51.100.100", "http://198.51.100.1:8080/boot.ipxe", "PXEClient", false},
		{"ipxe-modern-proxy", ModeProxy, false, PortDHCP, dhcpv4.MessageTypeDiscover, ipxeOpts(vcIPXE, boot.ArchTypeEFIX64, ipxeModern),
			dhcpv4.MessageTypeOffer, "0.0.0.0", "http://198.51.100.1:8080/boot.ipxe", "PXEClient", false},
		{"ipxe-modern-proxy-4011", ModeProxy, false, PortPXE, dhcpv4.MessageTypeRequest, pxeRequest(ipxeOpts(vcIPXE, boot.ArchTypeEFIX64, ipxeModern)...),
			dhcpv4.MessageTypeAck, "0.0.0.0", "http://198.51.100.1:8080/boot.ipxe", "PXEClient", false},
		{"ipxe-2019-full", ModeFull, false, PortDHCP, dhcpv4.MessageTypeDiscover, ipxeOpts(vcBIOS, boot.ArchTypeBIOS, ipxe2019),
			dhcpv4.MessageTypeOffer, "198.51.100.100", "undionly.kpxe", "PXEClient", true},
		{"plain-full", ModeFull, false, PortDHCP, dhcpv4.MessageTypeDiscover, nil,
			dhcpv4.MessageTypeOffer, "198.51.100.100", "", "", false},
		{"plain-full-inform", ModeFull, false, PortDHCP, dhcpv4.MessageTypeInform, []dhcpv4.Modifier{dhcpv4.WithClientIP(net.IPv4(198, 51, 100, 20))},
			dhcpv4.MessageTypeAck, "0.0.0.0", "", "", false},
		{"plain-proxy", ModeProxy, false, PortDHCP, dhcpv4.MessageTypeDiscover, nil,
			dhcpv4.MessageTypeNone, "", "", "", false},
		{"plain-proxy-4011", ModeProxy, false, PortPXE, dhcpv4.MessageTypeRequest, pxeRequest(),
			dhcpv4.MessageTypeNone, "", "", "", false},
		{"off", ModeOff, false, PortDHCP, dhcpv4.MessageTypeDiscover, pxeOpts(vcBIOS, boot.ArchTypeBIOS),
			dhcpv4.MessageTypeNone, "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(tt.mode)
			cfg.IPXE.SNPOnly = tt.snpOnly
			s := newTestServer(t, cfg, newMemStore())
			got := reply(t, s, packet(t, tt.typ, mac(1), tt.opts...), tt.port)
			golden(t, tt.name, render(got))
			if tt.wantType == dhcpv4.MessageTypeNone {
				if got != nil {
					t.Fatalf("Reply() = %s, want no reply", got.MessageType())
				}
				return
			}
			if got == nil {
				t.Fatalf("Reply() = no reply, want %s", tt.wantType)
			}
			if got.MessageType() != tt.wantType {
				t.Errorf("message type = %s, want %s", got.MessageType(), tt.wantType)
			}
			if g := got.YourIPAddr.String(); g != tt.wantYI {
				t.Errorf("yiaddr = %s, want %s", g, tt.wantYI)
			}
			if got.BootFileName != tt.wantFile || got.BootFileNameOption() != tt.wantFile {
				t.Errorf("boot file = %q (option 67 %q), want %q", got.BootFileName, got.BootFileNameOption(), tt.wantFile)
			}
			if g := got.ClassIdentifier(); g != tt.wantVC {
				t.Errorf("option 60 = %q, want %q", g, tt.wantVC)
			}
			if g := got.Options.Has(dhcpv4.OptionVendorSpecificInformation); g != tt.want43 {
				t.Errorf("option 43 present = %v, want %v", g, tt.want43)
			}
			if g := got.ServerIdentifier(); !g.Equal(serverIP) {
				t.Errorf("option 54 = %v, want %v", g, serverIP)
			}
			if tt.wantFile != "" && !got.ServerIPAddr.Equal(serverIP) {
				t.Errorf("siaddr = %v, want %v", got.ServerIPAddr, serverIP)
			}
		})
	}
}
