package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// TFTP client timers of the storm: wait 1 s for a packet, give up after 5
// waits without one (the same as the storm's former pin/tftp client).
const (
	tftpTimeout = time.Second
	tftpRetries = 5
)

// tftpGet downloads file from server (host:port) as a UEFI PXE client: an
// RRQ with blksize, tsize and, if window > 1, windowsize (RFC 2348, 2349,
// 7440); options the server does not grant fall back to 512-byte blocks and
// lock step. The receiver acknowledges every window-th block and the last
// one; a block out of order is answered with an ACK of the last block
// received in order, which makes the server resend from there; on a
// timeout the last ACK (or the request) is sent again. It returns the bytes
// received and the windowsize in force.
func tftpGet(server, file string, blksize, window int, tr *tracer) (int64, int, error) {
	raddr, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		return 0, 0, err
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	rrq := tftpRRQ(file, blksize, window)
	last := rrq           // what a timeout resends
	var peer *net.UDPAddr // the server's transfer port, once known
	send := func(p []byte) error {
		last = p
		to := raddr
		if peer != nil {
			to = peer
		}
		_, err := conn.WriteToUDP(p, to)
		return err
	}
	if err := send(rrq); err != nil {
		return 0, 0, err
	}
	blk, win := 512, 1
	var got int64
	var expect uint16 = 1 // next block in order
	inWindow := 0
	buf := make([]byte, 65536)
	for tries := 0; ; {
		conn.SetReadDeadline(time.Now().Add(tftpTimeout))
		n, from, err := conn.ReadFromUDP(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if tries++; tries > tftpRetries {
				return got, win, fmt.Errorf("timeout after %d bytes", got)
			}
			tr.note("TFTP timeout at block %d, resend", expect)
			if err := send(last); err != nil {
				return got, win, err
			}
			continue
		}
		if err != nil {
			return got, win, err
		}
		if n < 4 || (peer != nil && (!from.IP.Equal(peer.IP) || from.Port != peer.Port)) {
			continue
		}
		tries = 0
		p := buf[:n]
		switch op := binary.BigEndian.Uint16(p); {
		case op == 5:
			return got, win, fmt.Errorf("server error %d: %s", binary.BigEndian.Uint16(p[2:]), strings.TrimRight(string(p[4:]), "\x00"))
		case op == 6 && peer == nil:
			tr.note("TFTP OACK")
			peer = from
			blk, win = tftpOACK(p[2:], blk, win)
			if err := send(tftpACK(0)); err != nil {
				return got, win, err
			}
		case op == 3:
			if peer == nil {
				peer = from // no OACK: the server ignored every option
			}
			b := binary.BigEndian.Uint16(p[2:])
			if b != expect {
				if b != expect-1 || win == 1 { // a gap, or a lock-step duplicate
					if err := send(tftpACK(expect - 1)); err != nil {
						return got, win, err
					}
				}
				inWindow = 0
				continue
			}
			got += int64(n - 4)
			expect++
			inWindow++
			final := n-4 < blk
			if inWindow == win || final {
				inWindow = 0
				if err := send(tftpACK(b)); err != nil {
					return got, win, err
				}
			}
			if final {
				return got, win, nil
			}
		}
	}
}

func tftpRRQ(file string, blksize, window int) []byte {
	p := []byte{0, 1}
	fields := []string{file, "octet", "blksize", strconv.Itoa(blksize), "tsize", "0"}
	if window > 1 {
		fields = append(fields, "windowsize", strconv.Itoa(window))
	}
	for _, f := range fields {
		p = append(append(p, f...), 0)
	}
	return p
}

func tftpACK(b uint16) []byte { return []byte{0, 4, byte(b >> 8), byte(b)} }

// tftpOACK reads the granted blksize and windowsize from an OACK's options.
func tftpOACK(opts []byte, blk, win int) (int, int) {
	f := strings.Split(strings.TrimRight(string(opts), "\x00"), "\x00")
	for i := 0; i+1 < len(f); i += 2 {
		v, err := strconv.Atoi(f[i+1])
		if err != nil {
			continue
		}
		switch strings.ToLower(f[i]) {
		case "blksize":
			blk = v
		case "windowsize":
			win = v
		}
	}
	return blk, win
}
