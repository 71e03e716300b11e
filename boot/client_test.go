package boot

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Vendor classes and option 175 bodies as clients send them.
const (
	vcBIOS    = "PXEClient:Arch:00000:UNDI:002001"
	vcEFI     = "PXEClient:Arch:00007:UNDI:003001"
	vcARM64   = "PXEClient:Arch:00011:UNDI:003000"
	vcHTTP    = "HTTPClient:Arch:00016:UNDI:003001"
	vcHTTPA64 = "HTTPClient:Arch:00019:UNDI:003000"
	vcMSFT    = "MSFT 5.0"
	vcUdhcpc  = "udhcp 1.35.0"
)

var (
	// opt175Modern: trixie's iPXE, with sub-option 20 (HTTPS).
	opt175Modern = []byte{0x11, 1, 1, 0x13, 1, 1, 0x14, 1, 1, 0x18, 1, 1}
	// opt175Old: QEMU's 2019 NIC ROM: HTTP (19) but no HTTPS (20).
	opt175Old = []byte{0x11, 1, 1, 0x13, 1, 1, 0x18, 1, 1}
	ipxeUC    = []string{"iPXE"}
)

func TestClassify(t *testing.T) {
	bios := Client{Stage: StageFirmware, Firmware: FirmwareBIOS, Arch: ArchI386}
	efi64 := Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchX86_64, ArchType: 7}
	tests := []struct {
		name string
		r    Request
		want Client
	}{
		// Firmware PXE clients, by option 93.
		{"bios arch 0", Request{Arches: []uint16{0}, VendorClass: vcBIOS}, bios},
		{"bios without option 93", Request{VendorClass: vcBIOS}, bios},
		{"bare PXEClient without option 93", Request{VendorClass: "PXEClient"}, bios},
		{"efi ia32 (6)", Request{Arches: []uint16{6}, VendorClass: vcEFI}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchI386, ArchType: 6}},
		{"efi x64 (7)", Request{Arches: []uint16{7}, VendorClass: vcEFI}, efi64},
		{"efi bc (9) is x64", Request{Arches: []uint16{9}, VendorClass: vcEFI}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchX86_64, ArchType: 9}},
		{"efi arm32 (10)", Request{Arches: []uint16{10}, VendorClass: vcEFI}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchARM32, ArchType: 10}},
		{"efi arm64 (11)", Request{Arches: []uint16{11}, VendorClass: vcARM64}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchARM64, ArchType: 11}},
		{"first of several option 93 values", Request{Arches: []uint16{7, 0}, VendorClass: vcEFI}, efi64},
		// UEFI HTTP Boot.
		{"http ia32 (15)", Request{Arches: []uint16{15}, VendorClass: vcHTTP}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchI386, HTTPBoot: true, ArchType: 15}},
		{"http x64 (16)", Request{Arches: []uint16{16}, VendorClass: vcHTTP}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchX86_64, HTTPBoot: true, ArchType: 16}},
		{"http arm32 (18)", Request{Arches: []uint16{18}, VendorClass: vcHTTP}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchARM32, HTTPBoot: true, ArchType: 18}},
		{"http arm64 (19)", Request{Arches: []uint16{19}, VendorClass: vcHTTPA64}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchARM64, HTTPBoot: true, ArchType: 19}},
		{"HTTPClient with a PXE arch type", Request{Arches: []uint16{7}, VendorClass: vcHTTP}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchX86_64, HTTPBoot: true, ArchType: 7}},
		{"PXEClient with an HTTP arch type", Request{Arches: []uint16{16}, VendorClass: vcEFI}, Client{Stage: StageFirmware, Firmware: FirmwareEFI, Arch: ArchX86_64, HTTPBoot: true, ArchType: 16}},
		// Unknown architectures: nothing to hand out.
		{"unknown arch 99", Request{Arches: []uint16{99}, VendorClass: vcEFI}, Client{ArchType: 99}},
		{"riscv64 (27)", Request{Arches: []uint16{27}, VendorClass: vcEFI}, Client{ArchType: 27}},
		{"unknown arch, iPXE", Request{Arches: []uint16{99}, VendorClass: vcEFI, UserClasses: ipxeUC, IPXEOptions: opt175Modern}, Client{ArchType: 99}},
		// Plain DHCP clients, whatever else they send.
		{"no options at all", Request{}, Client{}},
		{"windows", Request{VendorClass: vcMSFT}, Client{}},
		{"udhcpc", Request{VendorClass: vcUdhcpc}, Client{}},
		{"option 93 without a PXE vendor class", Request{Arches: []uint16{7}, VendorClass: vcMSFT}, Client{}},
		{"option 93 alone", Request{Arches: []uint16{0}}, Client{}},
		{"lower-case pxeclient", Request{Arches: []uint16{7}, VendorClass: "pxeclient"}, Client{}},
		{"other user class", Request{Arches: []uint16{7}, UserClasses: []string{"foo"}}, Client{}},
		{"user class ipxe, wrong case", Request{Arches: []uint16{7}, UserClasses: []string{"ipxe"}, IPXEOptions: opt175Modern}, Client{}},
		// iPXE: modern builds get the script, old ROMs get byoi's binary.
		{"modern ipxe efi", Request{Arches: []uint16{7}, VendorClass: vcEFI, UserClasses: ipxeUC, IPXEOptions: opt175Modern},
			Client{Stage: StageIPXE, Firmware: FirmwareEFI, Arch: ArchX86_64, ArchType: 7}},
		{"modern ipxe bios", Request{Arches: []uint16{0}, VendorClass: vcBIOS, UserClasses: ipxeUC, IPXEOptions: opt175Modern},
			Client{Stage: StageIPXE, Firmware: FirmwareBIOS, Arch: ArchI386}},
		{"modern ipxe arm64", Request{Arches: []uint16{11}, VendorClass: vcARM64, UserClasses: ipxeUC, IPXEOptions: opt175Modern},
			Client{Stage: StageIPXE, Firmware: FirmwareEFI, Arch: ArchARM64, ArchType: 11}},
		{"modern ipxe without vendor class", Request{Arches: []uint16{7}, UserClasses: ipxeUC, IPXEOptions: opt175Modern},
			Client{Stage: StageIPXE, Firmware: FirmwareEFI, Arch: ArchX86_64, ArchType: 7}},
		{"modern ipxe without option 93", Request{VendorClass: vcBIOS, UserClasses: ipxeUC, IPXEOptions: opt175Modern},
			Client{Stage: StageIPXE, Firmware: FirmwareBIOS, Arch: ArchI386}},
		{"modern ipxe among other user classes", Request{Arches: []uint16{7}, VendorClass: vcEFI, UserClasses: []string{"x", "iPXE"}, IPXEOptions: opt175Modern},
			Client{Stage: StageIPXE, Firmware: FirmwareEFI, Arch: ArchX86_64, ArchType: 7}},
		{"modern ipxe with HTTPClient", Request{Arches: []uint16{16}, VendorClass: vcHTTP, UserClasses: ipxeUC, IPXEOptions: opt175Modern},
			Client{Stage: StageIPXE, Firmware: FirmwareEFI, Arch: ArchX86_64, ArchType: 16}},
		{"2019 ipxe rom bios", Request{Arches: []uint16{0}, VendorClass: vcBIOS, UserClasses: ipxeUC, IPXEOptions: opt175Old}, bios},
		{"2019 ipxe rom efi", Request{Arches: []uint16{7}, VendorClass: vcEFI, UserClasses: ipxeUC, IPXEOptions: opt175Old}, efi64},
		{"ipxe without option 175", Request{Arches: []uint16{7}, VendorClass: vcEFI, UserClasses: ipxeUC}, efi64},
		{"ipxe with truncated option 175", Request{Arches: []uint16{7}, VendorClass: vcEFI, UserClasses: ipxeUC, IPXEOptions: []byte{0x11, 5, 1, 0x14, 1}}, efi64},
		{"ipxe with option 175 cut before length", Request{Arches: []uint16{7}, VendorClass: vcEFI, UserClasses: ipxeUC, IPXEOptions: []byte{0x14}}, efi64},
		{"ipxe with HTTPS after end marker", Request{Arches: []uint16{7}, VendorClass: vcEFI, UserClasses: ipxeUC, IPXEOptions: []byte{0x11, 1, 1, 0xff, 0x14, 1, 1}}, efi64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.r)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Classify(%+v) (-want +got):\n%s", tt.r, diff)
			}
			if got.NetBoot() != (tt.want.Stage != StageNone) {
				t.Errorf("Classify(%+v).NetBoot() = %v, want %v", tt.r, got.NetBoot(), tt.want.Stage != StageNone)
			}
		})
	}
}

func TestModernIPXE(t *testing.T) {
	tests := []struct {
		name string
		opt  []byte
		want bool
	}{
		{"nil", nil, false},
		{"https only", []byte{0x14, 1, 1}, true},
		{"https with empty body", []byte{0x14, 0}, true},
		{"trixie set", opt175Modern, true},
		{"2019 rom", opt175Old, false},
		{"pads before", []byte{0, 0, 0x14, 1, 1}, true},
		{"end marker first", []byte{0xff, 0x14, 1, 1}, false},
		{"code without length", []byte{0x14}, false},
		{"length past the end", []byte{0x11, 9, 1, 0x14, 1, 1}, false},
		{"https length past the end", []byte{0x11, 1, 1, 0x14, 4, 1}, false},
		{"https inside another body", []byte{0x11, 3, 0x14, 1, 1}, false},
		{"only pads", []byte{0, 0, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Request{IPXEOptions: tt.opt}).ModernIPXE(); got != tt.want {
				t.Errorf("ModernIPXE(% x) = %v, want %v", tt.opt, got, tt.want)
			}
		})
	}
}

// FuzzModernIPXE: option 175 comes from the network; it must never panic
// and must agree with a straightforward TLV walk.
func FuzzModernIPXE(f *testing.F) {
	for _, s := range [][]byte{nil, opt175Modern, opt175Old, {0x14}, {0x11, 9}, {0, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := false
		for i := 0; i < len(b); {
			if b[i] == 0 {
				i++
				continue
			}
			if b[i] == 255 || i+1 >= len(b) || i+2+int(b[i+1]) > len(b) {
				break
			}
			if b[i] == 20 {
				want = true
				break
			}
			i += 2 + int(b[i+1])
		}
		if got := (Request{IPXEOptions: b}).ModernIPXE(); got != want {
			t.Errorf("ModernIPXE(% x) = %v, want %v", b, got, want)
		}
	})
}

func TestStageString(t *testing.T) {
	for s, want := range map[Stage]string{StageNone: "none", StageFirmware: "firmware", StageIPXE: "ipxe", Stage(9): "none"} {
		if got := s.String(); got != want {
			t.Errorf("Stage(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}
