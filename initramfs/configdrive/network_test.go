package configdrive

import (
	"encoding/json"
	"net/netip"
	"testing"
)

// FuzzInterfaceData renders network_data.json for fuzzed boot NICs: it
// fails cleanly or gives JSON that names the NIC's MAC and, for a fixed
// configuration, its address.
func FuzzInterfaceData(f *testing.F) {
	f.Add("52:54:00:ab:cd:01", "", "", "")
	f.Add("52-54-00-AB-CD-01", "198.51.100.10/24", "198.51.100.1", "198.51.100.53")
	f.Add("52:54:00:ab:cd:01", "198.51.100.10/32", "", "")
	f.Add("zz", "2001:db8::1/64", "::1", "0.0.0.0")
	f.Fuzz(func(t *testing.T, mac, addr, gw, dns string) {
		n := Interface{MAC: mac}
		n.Address, _ = netip.ParsePrefix(addr)
		n.Gateway, _ = netip.ParseAddr(gw)
		if d, err := netip.ParseAddr(dns); err == nil {
			n.DNS = []netip.Addr{d}
		}
		files, err := Files(Config{UUID: "u", Network: &n})
		if err != nil {
			return
		}
		var nd struct {
			Links []struct {
				MAC string `json:"ethernet_mac_address"`
			} `json:"links"`
			Networks []struct {
				Type string `json:"type"`
				IP   string `json:"ip_address"`
			} `json:"networks"`
		}
		if err := json.Unmarshal(files["openstack/latest/network_data.json"], &nd); err != nil {
			t.Fatalf("network_data.json for %+v does not parse: %v", n, err)
		}
		if len(nd.Links) != 1 || len(nd.Networks) != 1 || nd.Links[0].MAC == "" {
			t.Fatalf("network_data.json for %+v = %+v, want one link and one network", n, nd)
		}
		if n.Address.IsValid() != (nd.Networks[0].Type == "ipv4") || (n.Address.IsValid() && nd.Networks[0].IP != n.Address.Addr().String()) {
			t.Fatalf("network_data.json for %+v = %+v", n, nd)
		}
	})
}
