package tftp

import (
	"net"

	"golang.org/x/sys/unix"
)

// linkMTU is the MTU a datagram to the client must fit: the smaller of the
// MTU of the interface the request came in on (ifindex; 0 if unknown) and
// the path MTU the kernel holds for conn's route to the client (IP_MTU of
// the connected transfer socket; a route may set one below the
// interface's). It is 0 when neither is known.
func linkMTU(conn *net.UDPConn, ifindex int) int {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0
	}
	mtu := 0
	_ = rc.Control(func(fd uintptr) {
		if ifindex > 0 {
			mtu = interfaceMTU(int(fd), ifindex)
		}
		if m := routeMTU(int(fd)); m > 0 && (mtu == 0 || m < mtu) {
			mtu = m
		}
	})
	return mtu
}

// interfaceMTU asks the kernel for the MTU of interface ifindex with two
// ioctls on any socket (net.InterfaceByIndex dumps every link over netlink,
// some hundred times slower, once per transfer).
func interfaceMTU(fd, ifindex int) int {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return 0
	}
	ifr.SetUint32(uint32(ifindex))
	if unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr) != nil {
		return 0
	}
	if ifr, err = unix.NewIfreq(ifr.Name()); err != nil {
		return 0
	}
	if unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr) != nil {
		return 0
	}
	return int(int32(ifr.Uint32()))
}

// routeMTU is the path MTU of a connected socket, IPv4 or IPv6, or 0.
func routeMTU(fd int) int {
	if m, err := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU); err == nil {
		return m
	}
	if m, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MTU); err == nil {
		return m
	}
	return 0
}
