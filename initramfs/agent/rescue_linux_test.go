package agent

import (
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

// TestInterfaceAddresses: the boot interface's address comes first, down
// interfaces and loopback are left out.
func TestInterfaceAddresses(t *testing.T) {
	inNetns(t, func() {
		boot, _ := net.ParseMAC("52:54:00:00:00:30")
		for _, l := range []struct {
			name, peer, addr string
			mac              net.HardwareAddr
			up               bool
		}{
			{"byoi0", "byoi1", "198.51.100.20/24", nil, true},
			{"byoi2", "byoi3", "198.51.100.30/24", boot, true},
			{"byoi4", "byoi5", "198.51.100.40/24", nil, false},
		} {
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.name, HardwareAddr: l.mac}, PeerName: l.peer}
			if err := netlink.LinkAdd(veth); err != nil {
				t.Errorf("add veth %s: %v", l.name, err)
				return
			}
			link, err := netlink.LinkByName(l.name)
			if err != nil {
				t.Error(err)
				return
			}
			a, _ := netlink.ParseAddr(l.addr)
			if err := netlink.AddrAdd(link, a); err != nil {
				t.Errorf("address %s: %v", l.name, err)
				return
			}
			if l.up {
				if err := netlink.LinkSetUp(link); err != nil {
					t.Error(err)
					return
				}
			}
		}
		if lo, err := netlink.LinkByName("lo"); err == nil {
			_ = netlink.LinkSetUp(lo)
		}
		got, err := interfaceAddresses(Config{BootIf: boot})
		if err != nil {
			t.Errorf("interfaceAddresses: %v", err)
		}
		if diff := cmp.Diff([]string{"198.51.100.30", "198.51.100.20"}, got); diff != "" {
			t.Errorf("interfaceAddresses (-want +got):\n%s", diff)
		}
	})
}
