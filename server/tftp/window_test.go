package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// faults are what a test client does wrong on purpose. Counters are per
// transfer; a nil func never fires.
type faults struct {
	// ignoreData drops the i-th DATA packet received (0-based), as if it
	// had been lost on the way.
	ignoreData func(i int) bool
	// dropACK drops the i-th ACK before it is sent (never the final one:
	// the receiver is gone after it, as RFC 1350 lets it be).
	dropACK func(i int) bool
	// dupACK sends every ACK twice.
	dupACK bool
}

// fetchResult is what a windowed download saw.
type fetchResult struct {
	data     []byte
	oack     map[string]string
	dataPkts int // DATA packets received, duplicates and ignored ones included
	acks     int // ACKs sent, duplicates included
}

// fetch downloads name as an RFC 7440 receiver: it sends opts with the
// request, acknowledges every window-th block and the last one, answers a
// block out of order with an ACK of the last block in order, and resends
// its last ACK after a second of silence (five times at most).
func fetch(t testing.TB, addr, name string, f faults, opts ...string) (fetchResult, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := []byte{0, opRRQ}
	for _, s := range append([]string{name, "octet"}, opts...) {
		req = append(append(req, s...), 0)
	}
	var res fetchResult
	var peer net.Addr = server
	last := req
	send := func(p []byte, isACK, final bool) {
		last = p
		if isACK {
			res.acks++
			if f.dropACK != nil && !final && f.dropACK(res.acks-1) {
				return
			}
		}
		conn.WriteTo(p, peer)
		if isACK && f.dupACK {
			res.acks++
			conn.WriteTo(p, peer)
		}
	}
	ack := func(b uint16, final bool) { send([]byte{0, opACK, byte(b >> 8), byte(b)}, true, final) }
	send(req, false, false)
	blk, win, expect, inWindow, known := 512, 1, uint16(1), 0, false
	buf := make([]byte, 65536)
	for tries := 0; ; {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := conn.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if tries++; tries > 5 {
				return res, fmt.Errorf("timeout after %d bytes", len(res.data))
			}
			conn.WriteTo(last, peer)
			continue
		}
		if err != nil || n < 4 {
			return res, fmt.Errorf("read: %d bytes, %v", n, err)
		}
		if !known {
			peer, known = from, true
		} else if from.String() != peer.String() {
			return res, fmt.Errorf("packet from %s, transfer is with %s", from, peer)
		}
		tries = 0
		p := buf[:n]
		switch binary.BigEndian.Uint16(p) {
		case opERROR:
			return res, fmt.Errorf("server error: %q", p[4:])
		case opOACK:
			res.oack = map[string]string{}
			kv := strings.Split(strings.TrimSuffix(string(p[2:]), "\x00"), "\x00")
			for i := 0; i+1 < len(kv); i += 2 {
				res.oack[strings.ToLower(kv[i])] = kv[i+1]
			}
			blk, win = atoi(res.oack["blksize"], 512), atoi(res.oack["windowsize"], 1)
			ack(0, false)
		case opDATA:
			res.dataPkts++
			if f.ignoreData != nil && f.ignoreData(res.dataPkts-1) {
				continue
			}
			b := binary.BigEndian.Uint16(p[2:])
			if b != expect {
				if b != expect-1 || win == 1 {
					ack(expect-1, false)
				}
				inWindow = 0
				continue
			}
			res.data = append(res.data, p[4:]...)
			expect++
			inWindow++
			final := n-4 < blk
			if inWindow == win || final {
				inWindow = 0
				ack(b, final)
			}
			if final {
				return res, nil
			}
		default:
			return res, fmt.Errorf("opcode %d", binary.BigEndian.Uint16(p))
		}
	}
}

func TestWindowSize(t *testing.T) {
	// Faults are recovered by the server's timer: short for them, long for
	// clean runs, which must see every block exactly once even on a busy
	// machine.
	ts := startServer(t, Config{Timeout: 200 * time.Millisecond})
	steady := startServer(t, Config{Root: ts.root, Timeout: 5 * time.Second})
	file := writeRandom(t, filepath.Join(ts.root, "ipxe.efi"), 100*1468+17) // 101 blocks of 1468
	exact := writeRandom(t, filepath.Join(ts.root, "exact"), 8*1024)        // 8 full blocks, then an empty one
	big := writeRandom(t, filepath.Join(ts.root, "big"), 70000*16+5)        // block numbers roll over
	edk2 := []string{"blksize", "1468", "windowsize", "4", "tsize", "0"}
	every := func(n int) func(int) bool { return func(i int) bool { return i%n == n-1 } }
	tests := []struct {
		name     string
		file     string
		want     []byte
		opts     []string
		f        faults
		wantOACK map[string]string
		maxACKs  int // ACKs sent, at most; 0: not checked
	}{
		{"EDK2 options", "ipxe.efi", file, edk2, faults{},
			map[string]string{"blksize": "1468", "windowsize": "4", "tsize": strconv.Itoa(len(file))}, 1 + 26},
		{"window 16", "ipxe.efi", file, []string{"blksize", "1468", "windowsize", "16"}, faults{},
			map[string]string{"blksize": "1468", "windowsize": "16"}, 1 + 7},
		{"window capped at 64", "ipxe.efi", file, []string{"blksize", "1468", "windowsize", "1000"}, faults{},
			map[string]string{"blksize": "1468", "windowsize": "64"}, 1 + 2},
		{"window 1 is lock step", "ipxe.efi", file, []string{"windowsize", "1"}, faults{},
			map[string]string{"windowsize": "1"}, 0},
		{"file a multiple of the block size", "exact", exact, []string{"blksize", "1024", "windowsize", "4"}, faults{},
			map[string]string{"blksize": "1024", "windowsize": "4"}, 1 + 3},
		{"lost DATA: resent from the last acknowledged block", "ipxe.efi", file, edk2,
			faults{ignoreData: every(7)}, nil, 0},
		{"lost ACKs: window resent after the timeout", "ipxe.efi", file, edk2,
			faults{dropACK: every(5)}, nil, 0},
		{"lost OACK acknowledgement", "ipxe.efi", file, edk2,
			faults{dropACK: func(i int) bool { return i == 0 }}, nil, 0},
		{"duplicated ACKs do not double the window", "ipxe.efi", file, edk2,
			faults{dupACK: true}, nil, 2 * (1 + 26)},
		{"block numbers roll over", "big", big, []string{"blksize", "16", "windowsize", "64"}, faults{},
			map[string]string{"blksize": "16", "windowsize": "64"}, 0},
		{"roll over with losses", "big", big, []string{"blksize", "16", "windowsize", "64"},
			faults{ignoreData: every(9000), dropACK: every(300)}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clean := tt.f.ignoreData == nil && tt.f.dropACK == nil && !tt.f.dupACK
			addr := ts.addr
			if clean {
				addr = steady.addr
			}
			res, err := fetch(t, addr, tt.file, tt.f, tt.opts...)
			if err != nil {
				t.Fatalf("fetch(%q, %v) = %v", tt.file, tt.opts, err)
			}
			if !bytes.Equal(res.data, tt.want) {
				t.Fatalf("fetch(%q, %v) = %d bytes, not equal to the %d-byte file", tt.file, tt.opts, len(res.data), len(tt.want))
			}
			if tt.wantOACK != nil {
				if diff := cmp.Diff(tt.wantOACK, res.oack); diff != "" {
					t.Errorf("OACK (-want +got):\n%s", diff)
				}
			}
			if tt.maxACKs > 0 && res.acks > tt.maxACKs {
				t.Errorf("fetch(%q, %v) sent %d ACKs, want at most %d", tt.file, tt.opts, res.acks, tt.maxACKs)
			}
			// Without faults every DATA packet is new: nothing is resent.
			if clean && res.dataPkts != len(tt.want)/atoi(res.oack["blksize"], 512)+1 {
				t.Errorf("fetch(%q, %v) received %d DATA packets, want one per block", tt.file, tt.opts, res.dataPkts)
			}
		})
	}
	var ok float64
	for _, srv := range []*testServer{ts, steady} {
		if err := srv.stop(); err != nil {
			t.Fatal(err)
		}
		ok += counter(t, srv.reg, "byoi_tftp_transfers_total", "ok")
	}
	if ok != float64(len(tests)) {
		t.Errorf("byoi_tftp_transfers_total{outcome=ok} = %v, want %d", ok, len(tests))
	}
}

func atoi(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
