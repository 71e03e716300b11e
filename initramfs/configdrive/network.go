package configdrive

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Interface is the machine's boot NIC as network_data.json describes it:
// the NIC byoi booted from, so that a machine with several NICs
// configures the right one.
type Interface struct {
	// MAC of the NIC (any case, colon or dash separated).
	MAC string
	// Address and prefix length of a fixed IPv4 configuration; the zero
	// Prefix means DHCP.
	Address netip.Prefix
	// Gateway is the default route (fixed configuration only; optional).
	Gateway netip.Addr
	// DNS servers (fixed configuration only).
	DNS []netip.Addr
}

// nicData is network_data.json for one NIC, in the field order OpenStack
// writes.
type nicData struct {
	Links    []link       `json:"links"`
	Networks []nicNetwork `json:"networks"`
	Services []service    `json:"services"`
}

type nicNetwork struct {
	ID        string  `json:"id"`
	Type      string  `json:"type"` // ipv4_dhcp or ipv4
	Link      string  `json:"link"`
	IPAddress string  `json:"ip_address,omitempty"`
	Netmask   string  `json:"netmask,omitempty"`
	Routes    []route `json:"routes,omitempty"`
	NetworkID string  `json:"network_id"`
}

type route struct {
	Network string `json:"network"`
	Netmask string `json:"netmask"`
	Gateway string `json:"gateway"`
}

type service struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// interfaceData renders network_data.json for the boot NIC: DHCPv4, or a
// fixed IPv4 address with its netmask, a default route through the
// gateway and DNS servers (as "dns" services, which cloud-init applies
// as the system's name servers).
func interfaceData(n Interface) ([]byte, error) {
	mac, err := net.ParseMAC(n.MAC)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("config drive: boot NIC MAC %q is not an Ethernet MAC address", n.MAC)
	}
	nd := nicData{Links: []link{{ID: "nic0", Type: "phy", MAC: strings.ToLower(mac.String())}}, Services: []service{}}
	nw := nicNetwork{ID: "network0", Type: "ipv4_dhcp", Link: "nic0", NetworkID: "network0"}
	if n.Address.IsValid() {
		if err := checkStatic(n); err != nil {
			return nil, err
		}
		nw.Type = "ipv4"
		nw.IPAddress = n.Address.Addr().String()
		nw.Netmask = net.IP(net.CIDRMask(n.Address.Bits(), 32)).String()
		if n.Gateway.IsValid() {
			nw.Routes = []route{{Network: "0.0.0.0", Netmask: "0.0.0.0", Gateway: n.Gateway.String()}}
		}
		for _, d := range n.DNS {
			nd.Services = append(nd.Services, service{Type: "dns", Address: d.String()})
		}
	} else if n.Gateway.IsValid() || len(n.DNS) > 0 {
		return nil, errors.New("config drive: a gateway or DNS servers need a fixed address (they come from DHCP otherwise)")
	}
	nd.Networks = []nicNetwork{nw}
	return marshal(nd)
}

func checkStatic(n Interface) error {
	a := n.Address
	if !a.Addr().Is4() || a.Bits() < 1 || a.Bits() > 32 {
		return fmt.Errorf("config drive: boot NIC address %s is not an IPv4 address with a prefix length of 1-32", a)
	}
	if n.Gateway.IsValid() && (!n.Gateway.Is4() || !a.Masked().Contains(n.Gateway) || n.Gateway == a.Addr()) {
		return fmt.Errorf("config drive: gateway %s is not another address of %s", n.Gateway, a.Masked())
	}
	for _, d := range n.DNS {
		if !d.IsValid() || d.IsUnspecified() {
			return fmt.Errorf("config drive: DNS server %s is not an address", d)
		}
	}
	return nil
}
