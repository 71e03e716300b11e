package configdrive

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/google/go-cmp/cmp"
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

func TestFromAgent(t *testing.T) {
	tests := []struct {
		name    string
		in      *agentapi.Network
		want    *Interface
		wantErr string
	}{
		{"none", nil, nil, ""},
		{"dhcp", &agentapi.Network{MAC: "52:54:00:ab:cd:01", Mode: agentapi.NetworkDHCP}, &Interface{MAC: "52:54:00:ab:cd:01"}, ""},
		{"static", &agentapi.Network{MAC: "52:54:00:ab:cd:01", Mode: agentapi.NetworkStatic, Address: "198.51.100.10", Prefix: 24,
			Gateway: "198.51.100.1", DNS: []string{"198.51.100.53"}},
			&Interface{MAC: "52:54:00:ab:cd:01", Address: netip.MustParsePrefix("198.51.100.10/24"), Gateway: netip.MustParseAddr("198.51.100.1"),
				DNS: []netip.Addr{netip.MustParseAddr("198.51.100.53")}}, ""},
		{"static without prefix", &agentapi.Network{MAC: "52:54:00:ab:cd:01", Mode: agentapi.NetworkStatic, Address: "198.51.100.10"}, nil,
			"prefix length 0 for 198.51.100.10 is invalid"},
		{"bad address", &agentapi.Network{MAC: "m", Mode: agentapi.NetworkStatic, Address: "198.51.100", Prefix: 24}, nil, `static address "198.51.100"`},
		{"gateway elsewhere", &agentapi.Network{MAC: "m", Mode: agentapi.NetworkStatic, Address: "198.51.100.10", Prefix: 24, Gateway: "198.51.101.1"}, nil,
			"gateway 198.51.101.1 is not another address of 198.51.100.0/24"},
		{"unknown mode", &agentapi.Network{MAC: "m", Mode: "bootp"}, nil, `network mode "bootp" is neither dhcp nor static`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromAgent(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("FromAgent(%+v) = %v, want an error containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromAgent(%+v) = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("FromAgent(%+v) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
