package tftp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// sender runs one read transfer over a connected socket: the OACK (if any
// option was granted) as block 0, then DATA blocks in windows (RFC 7440; a
// window of 1 is RFC 1350's lock step).
//
// Blocks are numbered internally from 0 (the OACK) to last with int64, so
// files of more than 65535 blocks need no special case: only the 16-bit
// numbers on the wire roll over, and an ACK is mapped back to the one block
// of the outstanding window it can name.
//
// An ACK for a block of the outstanding window moves the window's start
// past it; the next window starts right after it, which also resends what
// followed a block the client reports missing. A duplicate or stale ACK
// moves nothing and triggers nothing (RFC 1123 4.2.3.1: answering
// duplicates is what makes transfers degenerate into sending every block
// twice); when no ACK makes progress within the timeout, the window is sent
// again from the last acknowledged block, at most Retries times.
type sender struct {
	conn    *net.UDPConn
	src     io.ReaderAt
	size    int64
	blksize int
	window  int
	oack    []byte
	timeout time.Duration
	retries int

	last int64  // number of the final DATA block (shorter than blksize)
	pkt  []byte // one DATA packet
	rbuf []byte

	// batch sends the DATA packets of a window in one system call; nil
	// when every packet is a write of its own (a window of 1, blocks too
	// large to batch, not Linux, or after the kernel refused a batch or a
	// window went unanswered).
	batch   *batcher
	wbuf    []byte // a batch's packets, back to back
	batches int    // batch sends that went out (tests)
}

func newSender(conn *net.UDPConn, src io.ReaderAt, size int64, neg negotiation, cfg Config) *sender {
	s := &sender{conn: conn, src: src, size: size, blksize: neg.blksize, window: neg.window, oack: neg.oack,
		timeout: cfg.Timeout, retries: cfg.Retries,
		last: size/int64(neg.blksize) + 1, pkt: make([]byte, 4+neg.blksize), rbuf: make([]byte, 516)}
	if neg.window > 1 {
		if s.batch = newBatcher(conn, 4+neg.blksize); s.batch != nil {
			s.wbuf = make([]byte, min(neg.window, s.batch.max)*(4+neg.blksize))
		}
	}
	return s
}

// errNoProgress ends a transfer whose client stopped acknowledging.
var errNoProgress = errors.New("no acknowledgement")

// run sends the file and returns the bytes the client acknowledged.
func (s *sender) run(ctx context.Context) (int64, error) {
	next := int64(1) // first block not acknowledged
	if s.oack != nil {
		next = 0
	}
	tries := 0
	for next <= s.last {
		if err := ctx.Err(); err != nil {
			return s.acked(next), err
		}
		end := min(next+int64(s.window)-1, s.last)
		if next == 0 {
			end = 0 // the OACK is acknowledged alone (ACK 0)
		}
		if err := s.sendWindow(next, end); err != nil {
			return s.acked(next), err
		}
		got, err := s.waitACK(next-1, end)
		if errors.Is(err, errNoProgress) {
			if tries++; tries > s.retries {
				return s.acked(next), fmt.Errorf("%w of block %d after %d tries of %s", err, uint16(next), tries, s.timeout)
			}
			// Sent again one packet per write: should segmented sends
			// vanish on some path, the transfer still completes.
			s.batch = nil
			continue
		}
		var ce *clientError
		if errors.As(err, &ce) && next == 0 {
			ce.probe = true // ended in answer to the OACK, before any data
		}
		if err != nil {
			return s.acked(next), err
		}
		next, tries = got+1, 0
	}
	return s.size, nil
}

// acked is the number of file bytes in blocks before next.
func (s *sender) acked(next int64) int64 {
	if next <= 1 {
		return 0
	}
	return min((next-1)*int64(s.blksize), s.size)
}

// sendWindow sends blocks first to end, in batches when it can: every
// packet but the file's last is 4+blksize bytes, and the last block ends a
// window, so a batch's packets all have the batcher's size except perhaps
// its last. If the kernel refuses a batch, this transfer sends the window
// again one packet per write, and goes on that way.
func (s *sender) sendWindow(first, end int64) error {
	for b := first; b <= end; {
		n := int64(1)
		if s.batch != nil && b > 0 {
			n = min(end-b+1, int64(s.batch.max))
		}
		if n == 1 {
			if err := s.send(b); err != nil {
				return err
			}
			b++
			continue
		}
		p := s.wbuf[:0]
		for i := range n {
			pkt, err := s.packet(b+i, s.wbuf[len(p):len(p)+4+s.blksize])
			if err != nil {
				return err
			}
			p = p[:len(p)+len(pkt)]
		}
		if err := s.batch.write(p); err != nil {
			if !refused(err) {
				return err
			}
			s.batch = nil
			continue
		}
		s.batches++
		b += n
	}
	return nil
}

// send sends block b: the OACK for 0, DATA otherwise.
func (s *sender) send(b int64) error {
	if b == 0 {
		_, err := s.conn.Write(s.oack)
		return err
	}
	pkt, err := s.packet(b, s.pkt)
	if err != nil {
		return err
	}
	_, err = s.conn.Write(pkt)
	return err
}

// packet writes DATA block b into dst (4+blksize bytes) and returns the
// packet.
func (s *sender) packet(b int64, dst []byte) ([]byte, error) {
	off := (b - 1) * int64(s.blksize)
	n := int(min(int64(s.blksize), s.size-off))
	binary.BigEndian.PutUint16(dst, opDATA)
	binary.BigEndian.PutUint16(dst[2:], uint16(b))
	if n > 0 {
		got, err := s.src.ReadAt(dst[4:4+n], off)
		if got != n {
			return nil, fmt.Errorf("read block %d: %d of %d bytes: %w", b, got, n, errors.Join(err, io.ErrUnexpectedEOF))
		}
	}
	return dst[:4+n], nil
}

// waitACK waits for an ACK of a block in (base, end] and returns that
// block's number. It returns errNoProgress after the timeout, and an error
// if the client sent ERROR or the socket failed (an ICMP port unreachable
// from a client that went away ends the transfer here at once).
func (s *sender) waitACK(base, end int64) (int64, error) {
	if err := s.conn.SetReadDeadline(time.Now().Add(s.timeout)); err != nil {
		return 0, err
	}
	for {
		n, err := s.conn.Read(s.rbuf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, errNoProgress
		}
		if err != nil {
			return 0, err
		}
		if n < 4 {
			continue
		}
		switch binary.BigEndian.Uint16(s.rbuf) {
		case opACK:
			ahead := int64(binary.BigEndian.Uint16(s.rbuf[2:]) - uint16(base))
			if ahead >= 1 && ahead <= end-base {
				return base + ahead, nil
			}
		case opERROR:
			return 0, &clientError{code: binary.BigEndian.Uint16(s.rbuf[2:]), msg: cString(s.rbuf[4:n])}
		}
	}
}

// clientError is an ERROR packet the client sent to end a transfer.
type clientError struct {
	code  uint16
	msg   string
	probe bool // sent in answer to the OACK: an option probe, not a failure
}

func (e *clientError) Error() string { return fmt.Sprintf("client error %d: %q", e.code, e.msg) }

// cString is b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
