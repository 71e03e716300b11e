package ipxe

import "github.com/byoi/byoi/boot"

// iPXE binaries byoi hands to firmware, as Debian trixie's ipxe package
// ships them (ipxe.efi is its ipxe-amd64.efi).
const (
	// BinaryBIOS chains from a BIOS PXE ROM through its UNDI driver.
	BinaryBIOS = "undionly.kpxe"
	// BinaryEFIx64 is the full x86-64 UEFI iPXE with its own NIC drivers.
	BinaryEFIx64 = "ipxe.efi"
	// BinarySNPx64 is the x86-64 UEFI iPXE that drives the NIC through the
	// firmware's SNP protocol only (for NICs iPXE has no driver for).
	BinarySNPx64 = "snponly.efi"
	// BinaryEFIARM64 is the arm64 UEFI iPXE.
	BinaryEFIARM64 = "ipxe-arm64.efi"
)

// Binaries lists every file name BinaryFor can return: what the TFTP and
// HTTP servers must be able to serve from the iPXE binaries directory.
// Trixie's package has no 32-bit UEFI build (ipxe-i386.efi), so 32-bit UEFI
// and 32-bit ARM clients get nothing.
func Binaries() []string {
	return []string{BinaryBIOS, BinaryEFIx64, BinarySNPx64, BinaryEFIARM64}
}

// Options choose among binaries.
type Options struct {
	// SNPOnly hands x86-64 UEFI clients snponly.efi instead of ipxe.efi.
	SNPOnly bool
}

// BinaryFor returns the file name of the iPXE binary for a firmware-stage
// client ("undionly.kpxe", "ipxe.efi", "snponly.efi", "ipxe-arm64.efi"), or
// false when byoi has none for it.
func BinaryFor(c boot.Client, o Options) (string, bool) {
	switch {
	case c.Firmware == boot.FirmwareBIOS && c.Arch == boot.ArchI386:
		return BinaryBIOS, true
	case c.Firmware == boot.FirmwareEFI && c.Arch == boot.ArchX86_64:
		if o.SNPOnly {
			return BinarySNPx64, true
		}
		return BinaryEFIx64, true
	case c.Firmware == boot.FirmwareEFI && c.Arch == boot.ArchARM64:
		return BinaryEFIARM64, true
	}
	return "", false
}

// FilesPath is the HTTP path prefix under which byoi serves the iPXE
// binaries and the installer's kernel and initramfs (server/http), and to
// which DHCP points UEFI HTTP Boot clients (server/dhcp).
const FilesPath = "/files/"
