package probe

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// listen binds the client port on the interface (SO_BINDTODEVICE, with
// broadcast allowed), as a DHCP client would.
func listen(ifname string) (net.PacketConn, error) {
	return server4.NewIPv4UDPConn(ifname, &net.UDPAddr{Port: dhcpv4.ClientPort})
}
