//go:build !linux

package tftp

import "net"

// requestReader reads requests from the listening socket. Outside Linux
// transfers answer from the listening socket's own address (or, if that is
// a wildcard, from whichever address routing picks).
type requestReader struct {
	conn  net.PacketConn
	local net.IP
}

func newRequestReader(conn net.PacketConn) *requestReader {
	r := &requestReader{conn: conn}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		r.local = a.IP
	}
	return r
}

// read reads one datagram into buf and returns its length, where it
// arrived (the interface is not known here) and the sender.
func (r *requestReader) read(buf []byte) (int, arrival, *net.UDPAddr, error) {
	n, from, err := r.conn.ReadFrom(buf)
	if err != nil {
		return 0, arrival{}, nil, err
	}
	peer, ok := from.(*net.UDPAddr)
	if !ok {
		peer, _ = net.ResolveUDPAddr("udp", from.String()) // nil: dropped
	}
	return n, arrival{local: r.local}, peer, nil
}
