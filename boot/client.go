// Package boot is byoi's domain: machines, tasks and their state machine,
// the classification of network-boot clients, and the one decision
// "what does this machine boot now". It does no I/O.
//
// A DHCP handler classifies a request, then asks the ipxe catalogue for the
// file to hand out:
//
//	c := boot.Classify(boot.Request{Arches: a, VendorClass: vc, UserClasses: uc, IPXEOptions: o175})
//	if !c.NetBoot() { return } // not a PXE/HTTP boot client
//	if c.Stage == boot.StageIPXE { /* hand out the script URL */ }
package boot

import "strings"

// Firmware is the kind of firmware a client booted with.
type Firmware string

// Firmware kinds. The values are the ones iPXE reports in ${platform}.
const (
	FirmwareUnknown Firmware = ""
	FirmwareBIOS    Firmware = "pcbios"
	FirmwareEFI     Firmware = "efi"
)

// Arch is a CPU architecture as iPXE names it in ${buildarch}.
type Arch string

// Architectures byoi knows how to boot.
const (
	ArchUnknown Arch = ""
	ArchI386    Arch = "i386"
	ArchX86_64  Arch = "x86_64"
	ArchARM32   Arch = "arm32"
	ArchARM64   Arch = "arm64"
)

// Stage says which program sent the DHCP request.
type Stage int

// Stages of a network boot.
const (
	// StageNone: not a network-boot client (a plain DHCP client).
	StageNone Stage = iota
	// StageFirmware: the machine's own PXE or HTTP-boot firmware; it needs an iPXE binary.
	StageFirmware
	// StageIPXE: iPXE itself; it needs the bootstrap script URL.
	StageIPXE
)

func (s Stage) String() string {
	switch s {
	case StageFirmware:
		return "firmware"
	case StageIPXE:
		return "ipxe"
	default:
		return "none"
	}
}

// Client is what byoi knows about a booting machine from its DHCP request.
type Client struct {
	Stage    Stage
	Firmware Firmware
	Arch     Arch
	// HTTPBoot is true for UEFI HTTP Boot clients (option 60 "HTTPClient",
	// option 93 types 15/16/18/19): they need an http:// URL, not a TFTP file.
	HTTPBoot bool
	// ArchType is the raw option 93 value, kept for logs.
	ArchType uint16
}

// NetBoot reports whether the client is a PXE, HTTP-boot or iPXE client.
func (c Client) NetBoot() bool { return c.Stage != StageNone }

// Option 93 client system architecture types (IANA "Processor Architecture
// Types", RFC 4578 and its updates).
const (
	ArchTypeBIOS        uint16 = 0
	ArchTypeEFIIA32     uint16 = 6
	ArchTypeEFIX64      uint16 = 7
	ArchTypeEFIBC       uint16 = 9 // EFI byte code; firmware in the wild sends it for x64
	ArchTypeEFIARM32    uint16 = 10
	ArchTypeEFIARM64    uint16 = 11
	ArchTypeEFIIA32HTTP uint16 = 15
	ArchTypeEFIX64HTTP  uint16 = 16
	ArchTypeEFIARM32HTP uint16 = 18
	ArchTypeEFIARM64HTP uint16 = 19
)

type archInfo struct {
	fw   Firmware
	arch Arch
	http bool
}

var archTypes = map[uint16]archInfo{
	ArchTypeBIOS:        {FirmwareBIOS, ArchI386, false},
	ArchTypeEFIIA32:     {FirmwareEFI, ArchI386, false},
	ArchTypeEFIX64:      {FirmwareEFI, ArchX86_64, false},
	ArchTypeEFIBC:       {FirmwareEFI, ArchX86_64, false},
	ArchTypeEFIARM32:    {FirmwareEFI, ArchARM32, false},
	ArchTypeEFIARM64:    {FirmwareEFI, ArchARM64, false},
	ArchTypeEFIIA32HTTP: {FirmwareEFI, ArchI386, true},
	ArchTypeEFIX64HTTP:  {FirmwareEFI, ArchX86_64, true},
	ArchTypeEFIARM32HTP: {FirmwareEFI, ArchARM32, true},
	ArchTypeEFIARM64HTP: {FirmwareEFI, ArchARM64, true},
}

// Request holds the boot-relevant options of a DHCP request.
type Request struct {
	Arches      []uint16 // option 93, client system architectures
	VendorClass string   // option 60
	UserClasses []string // option 77
	// IPXEOptions is the raw value of option 175, iPXE's encapsulated
	// options. Sub-option 20 (HTTPS) marks an iPXE build recent enough to be
	// byoi's own; older ROMs (QEMU's 2019 NIC ROMs, vendor builds) lack it.
	IPXEOptions []byte
}

// iPXE encapsulated sub-option advertising HTTPS support.
const ipxeFeatureHTTPS = 20

// ModernIPXE reports whether option 175 advertises HTTPS support.
// Malformed option bodies report false.
func (r Request) ModernIPXE() bool {
	b := r.IPXEOptions
	for len(b) > 0 {
		code := b[0]
		if code == 0 { // pad
			b = b[1:]
			continue
		}
		if code == 255 || len(b) < 2 || int(b[1]) > len(b)-2 {
			return false
		}
		if code == ipxeFeatureHTTPS {
			return true
		}
		b = b[2+int(b[1]):]
	}
	return false
}

// Classify turns a request's options into a Client.
//
// A request is a network-boot request when option 60 starts with
// "PXEClient" or "HTTPClient", or option 77 says "iPXE". Everything else is
// StageNone, whatever option 93 says.
//
// An iPXE that does not advertise HTTPS in option 175 is an old ROM (QEMU's
// 2019 NIC ROMs, vendor builds): it lacks the sanboot features byoi relies on,
// so it is treated like firmware and handed byoi's own iPXE binary. byoi's
// binaries advertise HTTPS, so this never loops.
func Classify(r Request) Client {
	var c Client
	pxe := strings.HasPrefix(r.VendorClass, "PXEClient")
	httpc := strings.HasPrefix(r.VendorClass, "HTTPClient")
	isIPXE := false
	for _, uc := range r.UserClasses {
		if uc == "iPXE" {
			isIPXE = true
		}
	}
	if !pxe && !httpc && !isIPXE {
		return c
	}
	if len(r.Arches) > 0 {
		c.ArchType = r.Arches[0]
		if info, ok := archTypes[r.Arches[0]]; ok {
			c.Firmware, c.Arch, c.HTTPBoot = info.fw, info.arch, info.http
		}
	} else {
		// PXE ROMs that omit option 93 are BIOS ones.
		c.Firmware, c.Arch = FirmwareBIOS, ArchI386
	}
	if httpc {
		c.HTTPBoot = true
	}
	switch {
	case c.Firmware == FirmwareUnknown:
		// An architecture we have no binary for.
		c.Stage = StageNone
	case isIPXE && r.ModernIPXE():
		c.Stage = StageIPXE
		c.HTTPBoot = false
	default:
		c.Stage = StageFirmware
	}
	return c
}
