package image

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A fast download is read in large pieces: once a read of the connection
// returns at least lowatFast bytes, the next large read (lowatMinRead or
// more) is woken only when rcvLowat bytes are waiting (SO_RCVLOWAT), or
// after lowatWait, whichever comes first. Otherwise the reader wakes for
// every segment that arrives, and each wake-up also sends the server a
// window update: on 127.0.0.1 here that doubled the CPU the server spent
// per GiB (see docs/performance.md). The wait bound keeps a stream that
// slows down from waiting for bytes that come late: its reads return
// what arrived within lowatWait, as before, and the stall and rate
// checks, which count in tens of seconds, are unaffected.
const (
	rcvLowat     = 512 << 10
	lowatFast    = 32 << 10 // half a loopback segment (65483 bytes)
	lowatMinRead = 64 << 10
	lowatWait    = 200 * time.Millisecond
)

// lowatConn is a TCP connection whose large reads wait for rcvLowat bytes
// while the stream is fast. Small reads (HTTP headers, a bufio fill) and
// the first read after a small one never wait for more than one byte, so
// a response shorter than rcvLowat on a reused connection is read at once.
// A connection that carries TLS is left alone: its reads are sized by TLS
// records, not by the caller, and a short response would wait lowatWait.
type lowatConn struct {
	net.Conn // the *net.TCPConn; only net.Conn's methods are promoted
	rc       syscall.RawConn
	fast     bool        // the last read returned lowatFast bytes or more (reading goroutine only)
	tls      atomic.Bool // a write began with a byte no HTTP request begins with
	timer    *time.Timer

	mu     sync.Mutex
	cur    int  // SO_RCVLOWAT as last set; 1, the default, at first
	broken bool // setting it failed: leave the socket as it is
}

// withLowat wraps a TCP connection; other connections are returned as
// they are.
func withLowat(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	lc := &lowatConn{Conn: tc, rc: rc, cur: 1}
	lc.timer = time.AfterFunc(time.Hour, func() { lc.set(1) })
	lc.timer.Stop()
	return lc
}

// set sets SO_RCVLOWAT to n. Lowering it wakes a reader waiting for more.
func (c *lowatConn) set(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == n || c.broken {
		return
	}
	var serr error
	err := c.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT, n)
	})
	if err != nil || serr != nil {
		c.broken = true
		return
	}
	c.cur = n
}

func (c *lowatConn) Read(p []byte) (int, error) {
	want := 1
	if c.fast && len(p) >= lowatMinRead && !c.tls.Load() {
		want = min(rcvLowat, len(p))
	}
	c.set(want)
	if want > 1 {
		c.timer.Reset(lowatWait)
	}
	n, err := c.Conn.Read(p)
	if want > 1 {
		c.timer.Stop()
	}
	c.fast = n >= lowatFast
	return n, err
}

// Write notes TLS: an HTTP/1 request begins with its method, a TLS record
// with a control byte (22, a handshake). The client writes first, so this
// is known before the first read.
func (c *lowatConn) Write(p []byte) (int, error) {
	if len(p) > 0 && (p[0] < 'A' || p[0] > 'Z') {
		c.tls.Store(true)
	}
	return c.Conn.Write(p)
}

func (c *lowatConn) Close() error {
	c.timer.Stop()
	return c.Conn.Close()
}
