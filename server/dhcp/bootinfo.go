package dhcp

import (
	"encoding/binary"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/ipxe"
)

// DHCP options byoi reads or writes that the library has no helper for.
const (
	optClientArch dhcpv4.GenericOptionCode = 93  // RFC 4578 client system architecture
	optClientUUID dhcpv4.GenericOptionCode = 97  // RFC 4578 client machine identifier
	optIPXEEncap  dhcpv4.GenericOptionCode = 175 // iPXE encapsulated options
)

// pxeVendorOptions is option 43 for BIOS PXE clients: sub-option 6 (PXE
// discovery control) = 8, "boot the file named in this offer without
// boot-server discovery or a menu", then the end marker (PXE 2.1, §2.4.3).
//
// UEFI PXE clients get no option 43: EDK2 then treats byoi's offer as a
// "BINL" offer and asks byoi for the boot file on port 4011, the path every
// UEFI firmware supports (some ignore proxy offers that disable discovery).
var pxeVendorOptions = []byte{6, 1, 8, 255}

// bootAnswer is what a network-boot client gets besides its address.
type bootAnswer struct {
	client      boot.Client
	vendorClass string // echoed option 60: PXEClient or HTTPClient
	file        string // TFTP file name or URL
	tftp        bool   // file is served by TFTP from ServerIP
	pxeVendor   bool   // add option 43
}

// classify reads the boot-relevant options of a request.
func classify(req *dhcpv4.DHCPv4) (boot.Client, boot.Request) {
	r := boot.Request{
		Arches:      archTypes(req.Options.Get(optClientArch)),
		VendorClass: req.ClassIdentifier(),
		UserClasses: userClasses(req),
		IPXEOptions: req.Options.Get(optIPXEEncap),
	}
	return boot.Classify(r), r
}

// archTypes decodes option 93: a list of 16-bit types. A trailing odd
// byte is ignored.
func archTypes(b []byte) []uint16 {
	var out []uint16
	for len(b) >= 2 {
		out = append(out, binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	return out
}

// userClasses decodes option 77 both ways clients send it: RFC 3004
// length-prefixed strings, or (iPXE) one plain string.
func userClasses(req *dhcpv4.DHCPv4) []string {
	raw := req.Options.Get(dhcpv4.OptionUserClassInformation)
	if len(raw) == 0 {
		return nil
	}
	out := []string{string(raw)}
	var rfc dhcpv4.Strings
	if err := rfc.FromBytes(raw); err == nil {
		out = append(out, rfc...)
	}
	return out
}

// bootFor decides what a client boots next; false for clients byoi does
// not serve (not network-booting, or no binary for their architecture).
func (s *Server) bootFor(req *dhcpv4.DHCPv4) (bootAnswer, bool) {
	c, r := classify(req)
	a := bootAnswer{client: c, vendorClass: "PXEClient"}
	if strings.HasPrefix(r.VendorClass, "HTTPClient") {
		a.vendorClass = "HTTPClient"
	}
	switch c.Stage {
	case boot.StageIPXE:
		a.file = s.cfg.BaseURL + "/boot.ipxe"
		return a, true
	case boot.StageFirmware:
		bin, ok := ipxe.BinaryFor(c, s.cfg.IPXE)
		if !ok {
			return a, false
		}
		if c.HTTPBoot {
			a.vendorClass = "HTTPClient"
			a.file = s.cfg.BaseURL + ipxe.FilesPath + bin
			return a, true
		}
		a.file, a.tftp = bin, true
		a.pxeVendor = c.Firmware == boot.FirmwareBIOS
		return a, true
	default:
		return a, false
	}
}

// addBoot writes the boot answer into a reply.
func (s *Server) addBoot(reply, req *dhcpv4.DHCPv4, a bootAnswer) {
	reply.UpdateOption(dhcpv4.OptClassIdentifier(a.vendorClass))
	reply.BootFileName = a.file
	reply.UpdateOption(dhcpv4.OptBootFileName(a.file))
	reply.ServerIPAddr = s.cfg.ServerIP
	if a.tftp {
		reply.UpdateOption(dhcpv4.OptTFTPServerName(s.cfg.ServerIP.String()))
	}
	if a.pxeVendor {
		reply.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, pxeVendorOptions))
	}
	if uuid := req.Options.Get(optClientUUID); len(uuid) > 0 {
		reply.UpdateOption(dhcpv4.OptGeneric(optClientUUID, uuid))
	}
}

// describe is the classification as logged.
func describe(c boot.Client) string {
	if !c.NetBoot() {
		return "plain"
	}
	s := c.Stage.String() + "/" + string(c.Firmware) + "/" + string(c.Arch)
	if c.HTTPBoot {
		s += "/http"
	}
	return s
}
