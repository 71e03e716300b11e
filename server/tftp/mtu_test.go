package tftp

import (
	"net"
	"testing"
)

func TestBlockLimit(t *testing.T) {
	v4, v6, mapped := net.ParseIP("198.51.100.2"), net.ParseIP("2001:db8::2"), net.ParseIP("::ffff:198.51.100.2")
	for _, tc := range []struct {
		configured, mtu int
		peer            net.IP
		want            int
	}{
		{1468, 0, v4, 1468},        // MTU unknown
		{1468, 1500, v4, 1468},     // Ethernet: the default fits exactly
		{1468, 1450, v4, 1418},     // overlay
		{1468, 1450, mapped, 1418}, // IPv4 client on a dual-stack socket
		{1468, 1450, v6, 1398},     // IPv6 header
		{1468, 65536, v4, 1468},    // loopback: the configured size
		{8192, 9000, v4, 8192},     // jumbo frames, configured below
		{9000, 9000, v4, 8968},     // jumbo frames, configured above
		{1468, 576, v4, 544},       // the smallest MTU IPv4 hosts must accept
		{1468, 300, v4, 512},       // never below 512
		{1468, 1280, v6, 1228},     // IPv6 minimum MTU
		{600, 1450, v4, 600},       // configured below the link
	} {
		if got := blockLimit(tc.configured, tc.mtu, tc.peer); got != tc.want {
			t.Errorf("blockLimit(%d, %d, %s) = %d, want %d", tc.configured, tc.mtu, tc.peer, got, tc.want)
		}
	}
}
