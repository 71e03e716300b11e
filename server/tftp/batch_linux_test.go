package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sendOver runs a sender for data with blksize and window from a socket
// connected to a receiver on 127.0.0.1, which takes every datagram as one
// DATA packet (failing the test if a datagram is not exactly the next
// block), acknowledges the last block of each window and of the file, and
// returns what it received. prepare may change the sender's socket first;
// the receiver ignores the first drop datagrams, as if they were lost.
func sendOver(t *testing.T, data []byte, blksize, window, drop int, prepare func(*net.UDPConn)) (*sender, []byte) {
	t.Helper()
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	conn, err := net.DialUDP("udp4", nil, rc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if prepare != nil {
		prepare(conn)
	}
	s := newSender(conn, bytes.NewReader(data), int64(len(data)), negotiation{blksize: blksize, window: window},
		Config{Timeout: time.Second, Retries: 2})
	got := make(chan []byte, 1)
	errc := make(chan error, 1)
	go func() {
		var out []byte
		buf := make([]byte, 65536)
		rc.SetReadDeadline(time.Now().Add(20 * time.Second))
		for block, inWindow := 1, 0; ; block++ {
			n, from, err := rc.ReadFromUDP(buf)
			if err != nil {
				errc <- err
				return
			}
			if drop > 0 {
				drop--
				block--
				continue
			}
			if n < 4 || binary.BigEndian.Uint16(buf) != opDATA || int(binary.BigEndian.Uint16(buf[2:])) != block%65536 || n > 4+blksize {
				errc <- fmt.Errorf("datagram %d: %d bytes, header % x; want DATA block %d of at most %d bytes", block, n, buf[:min(n, 4)], block, 4+blksize)
				return
			}
			out = append(out, buf[4:n]...)
			inWindow++
			if last := n < 4+blksize; last || inWindow == window {
				ack := []byte{0, opACK, 0, 0}
				binary.BigEndian.PutUint16(ack[2:], uint16(block))
				if _, err := rc.WriteToUDP(ack, from); err != nil {
					errc <- err
					return
				}
				inWindow = 0
				if last {
					got <- out
					return
				}
			}
		}
	}()
	n, err := s.run(context.Background())
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if n != int64(len(data)) {
		t.Errorf("sender reports %d bytes acknowledged, want %d", n, len(data))
	}
	select {
	case out := <-got:
		return s, out
	case err := <-errc:
		t.Fatalf("receiver: %v", err)
	}
	return s, nil
}

// TestBatchedWindows: on Linux a window goes out in UDP_SEGMENT sends of
// several packets, which the receiver gets as the same separate DATA
// datagrams one write per packet sends: windows of fewer and of more
// packets than one send carries, a file ending in a short block and one
// ending in an empty block, block sizes that fill a 1500-byte frame and
// that are small.
func TestBatchedWindows(t *testing.T) {
	for _, tc := range []struct {
		name            string
		size            int
		blksize, window int
		batches         int // the least batch sends expected
	}{
		{"window 4, short last block", 100*1468 + 77, 1468, 4, 25},
		{"window 4, empty last block", 40 * 1468, 1468, 4, 10},
		{"window 16", 300*1468 + 1, 1468, 16, 18},
		{"window 50, sends of 44 and 6", 1000*1468 + 5, 1468, 50, 40},
		{"window 2, blksize 512", 1000*512 + 300, 512, 2, 500},
		{"window 64, blksize 8", 5000*8 + 3, 8, 64, 78},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			for i := range data {
				data[i] = byte(i*7 + i/251)
			}
			s, got := sendOver(t, data, tc.blksize, tc.window, 0, nil)
			if !bytes.Equal(got, data) {
				t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
			}
			if s.batch == nil || s.batches < tc.batches {
				t.Errorf("%d batch sends (batcher %v), want at least %d", s.batches, s.batch != nil, tc.batches)
			}
		})
	}
}

// TestBatchRefused: when the kernel refuses a UDP_SEGMENT send (here a
// socket without UDP checksums, SO_NO_CHECK, which segmentation needs; on a
// real network, a device without checksum offload), the transfer sends the
// window again one packet per write and completes.
func TestBatchRefused(t *testing.T) {
	data := make([]byte, 50*1468+10)
	for i := range data {
		data[i] = byte(i)
	}
	s, got := sendOver(t, data, 1468, 4, 0, func(c *net.UDPConn) {
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || serr != nil {
			t.Fatalf("SO_NO_CHECK: %v %v", err, serr)
		}
	})
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	if s.batch != nil || s.batches != 0 {
		t.Errorf("batcher still on after a refusal (%d batch sends): the kernel accepted UDP_SEGMENT on a socket without checksums", s.batches)
	}
}

// TestBatchLost: a window sent in one batch that gets no answer (here its
// four datagrams are lost) is sent again one packet per write, and the
// rest of the transfer goes that way, so that a path that drops segmented
// sends cannot stall a transfer.
func TestBatchLost(t *testing.T) {
	data := make([]byte, 20*1468+10)
	for i := range data {
		data[i] = byte(i / 3)
	}
	s, got := sendOver(t, data, 1468, 4, 4, nil)
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes that differ from the %d sent", len(got), len(data))
	}
	if s.batch != nil || s.batches != 1 {
		t.Errorf("%d batch sends, batcher on: %v; want the first window's batch only, then writes", s.batches, s.batch != nil)
	}
}
