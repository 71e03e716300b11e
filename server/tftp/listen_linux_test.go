package tftp

import (
	"encoding/binary"
	"net"
	"testing"
)

// TestPktinfo: the interface index and the local address come out of
// IP_PKTINFO and IPV6_PKTINFO control messages as the kernel lays them out.
func TestPktinfo(t *testing.T) {
	cmsg := func(level, typ int32, data []byte) []byte {
		h := make([]byte, 16) // struct cmsghdr on 64-bit Linux: len (8), level, type
		binary.NativeEndian.PutUint64(h, uint64(16+len(data)))
		binary.NativeEndian.PutUint32(h[8:], uint32(level))
		binary.NativeEndian.PutUint32(h[12:], uint32(typ))
		b := append(h, data...)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		return b
	}
	v4 := make([]byte, 12)
	binary.NativeEndian.PutUint32(v4, 7)
	copy(v4[4:], []byte{198, 51, 100, 1})    // spec_dst
	copy(v4[8:], []byte{255, 255, 255, 255}) // header destination
	v6 := make([]byte, 20)
	copy(v6, net.ParseIP("2001:db8::1"))
	binary.NativeEndian.PutUint32(v6[16:], 9)
	for _, tc := range []struct {
		name string
		oob  []byte
		want arrival
	}{
		{"IPv4", cmsg(0 /* IPPROTO_IP */, 8 /* IP_PKTINFO */, v4), arrival{local: net.IPv4(198, 51, 100, 1), ifindex: 7}},
		{"IPv6", cmsg(41 /* IPPROTO_IPV6 */, 50 /* IPV6_PKTINFO */, v6), arrival{local: net.ParseIP("2001:db8::1"), ifindex: 9}},
		{"none", nil, arrival{}},
		{"truncated", cmsg(0, 8, v4[:8]), arrival{}},
	} {
		got := pktinfo(tc.oob)
		if !got.local.Equal(tc.want.local) || got.ifindex != tc.want.ifindex {
			t.Errorf("pktinfo(%s) = %s, %d, want %s, %d", tc.name, got.local, got.ifindex, tc.want.local, tc.want.ifindex)
		}
	}
}

// TestInterfaceMTU: the two ioctls give every interface's MTU as the
// standard library lists it, and 0 for an index no interface has; a socket
// connected to 127.0.0.1 has the loopback's MTU as its route MTU.
func TestInterfaceMTU(t *testing.T) {
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		t.Fatalf("net.Interfaces() = %v, %v", ifs, err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var lo int
	for _, ifi := range ifs {
		var got int
		if err := rc.Control(func(fd uintptr) { got = interfaceMTU(int(fd), ifi.Index) }); err != nil {
			t.Fatal(err)
		}
		if got != ifi.MTU {
			t.Errorf("interfaceMTU(%s, index %d) = %d, want %d", ifi.Name, ifi.Index, got, ifi.MTU)
		}
		if ifi.Flags&net.FlagLoopback != 0 {
			lo = ifi.MTU
		}
	}
	var unknown, route int
	if err := rc.Control(func(fd uintptr) { unknown, route = interfaceMTU(int(fd), 1<<30), routeMTU(int(fd)) }); err != nil {
		t.Fatal(err)
	}
	if unknown != 0 {
		t.Errorf("interfaceMTU(no such index) = %d, want 0", unknown)
	}
	want := min(lo, 65535) // the kernel caps a path MTU at the largest IP datagram
	if route != want {
		t.Errorf("routeMTU(socket connected to 127.0.0.1) = %d, want %d (loopback MTU %d)", route, want, lo)
	}
	if got := linkMTU(conn, 0); got != want {
		t.Errorf("linkMTU(socket to 127.0.0.1, no index) = %d, want %d", got, want)
	}
}
