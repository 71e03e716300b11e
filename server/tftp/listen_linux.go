package tftp

import (
	"encoding/binary"
	"net"

	"golang.org/x/sys/unix"
)

// readBuffer is the listening socket's receive buffer.
const readBuffer = 4 << 20

// requestReader reads requests from the listening socket with where each
// one arrived. On a *net.UDPConn, IP_PKTINFO / IPV6_PKTINFO give the
// interface a request came in on (its MTU bounds the block size) and, when
// the socket is bound to a wildcard address, the local address it was sent
// to, so that the transfer answers from the address the client knows (a
// multi-homed server would otherwise answer from whichever address routing
// picks, and the client would drop it).
type requestReader struct {
	conn     net.PacketConn
	udp      *net.UDPConn // nil when no control messages are asked for
	local    net.IP       // the bound address
	wildcard bool         // local is unspecified: take it from each request
	oob      []byte
}

func newRequestReader(conn net.PacketConn) *requestReader {
	r := &requestReader{conn: conn}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		r.local = a.IP
	}
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		return r
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return r
	}
	// Room for the requests of a few thousand clients at once (Linux's
	// default holds about a hundred); beyond rmem_max only as root.
	if err := rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, readBuffer) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, readBuffer)
		}
	}); err != nil {
		return r
	}
	r.wildcard = r.local == nil || r.local.IsUnspecified()
	var v4, v6 error
	if err := rc.Control(func(fd uintptr) {
		v4 = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		v6 = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	}); err != nil || (v4 != nil && v6 != nil) {
		return r
	}
	r.udp = uc
	r.oob = make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo)+unix.CmsgSpace(unix.SizeofInet4Pktinfo))
	return r
}

// read reads one datagram into buf and returns its length, where it
// arrived (zero fields when unknown) and the sender.
func (r *requestReader) read(buf []byte) (int, arrival, *net.UDPAddr, error) {
	if r.udp == nil {
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			return 0, arrival{}, nil, err
		}
		peer, _ := from.(*net.UDPAddr)
		if peer == nil {
			peer, _ = net.ResolveUDPAddr("udp", from.String()) // nil: dropped
		}
		return n, arrival{local: r.local}, peer, nil
	}
	n, oobn, _, peer, err := r.udp.ReadMsgUDP(buf, r.oob)
	if err != nil {
		return 0, arrival{}, nil, err
	}
	a := pktinfo(r.oob[:oobn])
	if !r.wildcard {
		a.local = r.local
	}
	return n, a, peer, nil
}

// pktinfo returns the local address and interface index in a control
// message; zero fields when it holds none.
func pktinfo(oob []byte) arrival {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return arrival{}
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst (the local address that
			// answers, also for a broadcast request), addr (the header's).
			a := m.Data[4:8]
			return arrival{local: net.IPv4(a[0], a[1], a[2], a[3]), ifindex: int(binary.NativeEndian.Uint32(m.Data[0:4]))}
		case m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			// struct in6_pktinfo: addr, ifindex.
			return arrival{local: net.IP(append([]byte(nil), m.Data[:16]...)), ifindex: int(binary.NativeEndian.Uint32(m.Data[16:20]))}
		}
	}
	return arrival{}
}
