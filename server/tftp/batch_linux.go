package tftp

import (
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxSegments is the most datagrams one UDP_SEGMENT send may carry
// (UDP_MAX_SEGMENTS, 64 in the kernels that brought UDP_SEGMENT; newer ones
// may allow more), and maxBatchBytes the most bytes: a send is one UDP
// datagram to the socket layer, whose length field has 16 bits.
const (
	maxSegments   = 64
	maxBatchBytes = 65000
)

// batcher sends several DATA packets of a window in one system call with
// UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18): the kernel
// cuts the buffer into datagrams of the packet size, each with its own UDP
// and IP headers, so the client receives exactly what one write per packet
// would have sent. A window of 4 blocks of 1468 bytes costs one sendmsg
// instead of four, and the routing, socket and per-packet work of the
// send path is done once.
type batcher struct {
	conn *net.UDPConn
	size int    // bytes per datagram: the DATA header and a full block
	max  int    // packets per send
	oob  []byte // the UDP_SEGMENT control message
}

// newBatcher returns a batcher for packets of size bytes on conn, or nil
// when no more than one such packet fits in a send.
func newBatcher(conn *net.UDPConn, size int) *batcher {
	n := min(maxSegments, maxBatchBytes/size)
	if n < 2 || size > 0xffff {
		return nil
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(size)
	return &batcher{conn: conn, size: size, max: n, oob: oob}
}

// write sends b, packets of b.size bytes back to back (the last one may be
// shorter), as separate datagrams.
func (b *batcher) write(p []byte) error {
	_, _, err := b.conn.WriteMsgUDP(p, b.oob, nil)
	return err
}

// refused reports whether err is the kernel declining segmentation on this
// socket or route rather than a failed send: no UDP_SEGMENT (before Linux
// 4.18), a device without checksum offload (EIO), a path MTU below the
// packet size or a socket without UDP checksums (EINVAL, EMSGSIZE). The
// kernel drops such a send whole before anything is sent, so the packets
// can be sent again one by one.
func refused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EMSGSIZE) ||
		errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP)
}
