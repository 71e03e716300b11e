package dhcp

import (
	"errors"
	"fmt"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// maxArchTypes bounds option 93: firmware sends one architecture type,
// a few at most; a longer list is hostile or broken.
const maxArchTypes = 16

// checkOptions refuses packets whose boot options have absurd shapes, so
// that they are dropped (and counted as malformed) instead of being
// classified from half-read values: option 93 must be a list of 1 to
// maxArchTypes 16-bit types, and option 175 (iPXE's encapsulated options)
// a well-formed sequence of code, length, value.
func checkOptions(req *dhcpv4.DHCPv4) error {
	if arch, ok := req.Options[optClientArch.Code()]; ok {
		if n := len(arch); n == 0 || n%2 != 0 || n > 2*maxArchTypes {
			return fmt.Errorf("option 93 of length %d: want 2 to %d bytes, a multiple of 2", n, 2*maxArchTypes)
		}
	}
	if encap, ok := req.Options[optIPXEEncap.Code()]; ok {
		if err := checkEncapsulated(encap); err != nil {
			return fmt.Errorf("option 175: %w", err)
		}
	}
	return nil
}

// checkEncapsulated walks DHCP-style options: pad (0) and end (255) are
// one byte, every other code has a length that must fit.
func checkEncapsulated(b []byte) error {
	for len(b) > 0 {
		switch b[0] {
		case 0:
			b = b[1:]
			continue
		case 255:
			return nil
		}
		if len(b) < 2 {
			return errors.New("option code without a length")
		}
		if n := int(b[1]); n > len(b)-2 {
			return fmt.Errorf("option %d claims %d bytes, %d left", b[0], n, len(b)-2)
		}
		b = b[2+int(b[1]):]
	}
	return nil
}
