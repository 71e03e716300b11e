package tftp

import "net"

// arrival is where a request came in: the local address it was sent to
// and the index of the interface it arrived on (nil and 0 when unknown).
type arrival struct {
	local   net.IP
	ifindex int
}

// Bytes in front of a block in a DATA datagram.
const (
	ipv4Header = 20 // without options
	ipv6Header = 40 // without extension headers
	udpHeader  = 8
	dataHeader = 4 // TFTP opcode and block number
)

// blockLimit is the largest block size this transfer grants: the
// configured one, lowered so that a DATA packet fits one unfragmented
// datagram on a link of the given MTU (0: unknown, no lowering), but never
// below the 512 bytes every client handles. A 1468-byte block, right for
// Ethernet, would be fragmented on a 1450-byte overlay, and fragments are
// what middleboxes and some PXE stacks lose.
func blockLimit(configured, mtu int, peer net.IP) int {
	if mtu <= 0 {
		return configured
	}
	hdr := ipv4Header
	if peer.To4() == nil {
		hdr = ipv6Header
	}
	return min(configured, max(mtu-hdr-udpHeader-dataHeader, 512))
}
