package ipxe

import (
	"slices"
	"testing"

	"github.com/byoi/byoi/boot"
)

func TestBinaryFor(t *testing.T) {
	tests := []struct {
		name   string
		c      boot.Client
		o      Options
		want   string
		wantOK bool
	}{
		{"bios", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareBIOS, Arch: boot.ArchI386}, Options{}, "undionly.kpxe", true},
		{"bios ignores snponly", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareBIOS, Arch: boot.ArchI386}, Options{SNPOnly: true}, "undionly.kpxe", true},
		{"efi x86_64", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareEFI, Arch: boot.ArchX86_64}, Options{}, "ipxe.efi", true},
		{"efi x86_64 snponly", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareEFI, Arch: boot.ArchX86_64}, Options{SNPOnly: true}, "snponly.efi", true},
		{"efi x86_64 http boot", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareEFI, Arch: boot.ArchX86_64, HTTPBoot: true}, Options{}, "ipxe.efi", true},
		{"efi arm64", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareEFI, Arch: boot.ArchARM64}, Options{}, "ipxe-arm64.efi", true},
		{"efi arm64 snponly", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareEFI, Arch: boot.ArchARM64}, Options{SNPOnly: true}, "ipxe-arm64.efi", true},
		// Debian trixie's ipxe package ships no ipxe-i386.efi.
		{"efi i386", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareEFI, Arch: boot.ArchI386}, Options{}, "", false},
		{"efi arm32", boot.Client{Stage: boot.StageFirmware, Firmware: boot.FirmwareEFI, Arch: boot.ArchARM32}, Options{}, "", false},
		{"bios x86_64 (not a real combination)", boot.Client{Firmware: boot.FirmwareBIOS, Arch: boot.ArchX86_64}, Options{}, "", false},
		{"unknown", boot.Client{}, Options{}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := BinaryFor(tt.c, tt.o)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("BinaryFor(%+v, %+v) = %q, %v, want %q, %v", tt.c, tt.o, got, ok, tt.want, tt.wantOK)
			}
			if ok && !slices.Contains(Binaries(), got) {
				t.Errorf("BinaryFor(%+v) = %q, not in Binaries() %v", tt.c, got, Binaries())
			}
		})
	}
}

// TestBinaryForClassified runs every option 93 value through boot.Classify
// and checks that each answer is a file byoi ships.
func TestBinaryForClassified(t *testing.T) {
	want := map[uint16]string{0: "undionly.kpxe", 7: "ipxe.efi", 9: "ipxe.efi", 11: "ipxe-arm64.efi",
		16: "ipxe.efi", 19: "ipxe-arm64.efi"}
	for arch := uint16(0); arch < 40; arch++ {
		c := boot.Classify(boot.Request{Arches: []uint16{arch}, VendorClass: "PXEClient:Arch:00000:UNDI:002001"})
		got, ok := BinaryFor(c, Options{})
		if w, has := want[arch]; got != w || ok != has {
			t.Errorf("option 93 = %d: BinaryFor(%+v) = %q, %v, want %q, %v", arch, c, got, ok, w, has)
		}
	}
}
