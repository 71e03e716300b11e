package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzServer serves root from 127.0.0.1 until the fuzz test ends.
func fuzzServer(f *testing.F, root string, blockSize int) *net.UDPAddr {
	s, err := New(Config{Root: root, BlockSize: blockSize, Timeout: 200 * time.Millisecond, Retries: 1})
	if err != nil {
		f.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	f.Cleanup(func() { cancel(); <-done })
	return conn.LocalAddr().(*net.UDPAddr)
}

// rqFields splits a request the way RFC 1350 lays it out: name, mode and
// option/value pairs, each NUL-terminated (the last terminator optional).
func rqFields(p []byte) []string {
	return strings.Split(string(p[2:]), "\x00")
}

// exchange sends p from a fresh port and returns the first answer, if any
// arrives within wait, and the address it came from.
func exchange(t *testing.T, server *net.UDPAddr, p []byte, wait time.Duration) ([]byte, net.Addr, *net.UDPConn) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.WriteTo(p, server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(wait))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		return nil, nil, c
	}
	return buf[:n], from, c
}

// FuzzRequest sends arbitrary datagrams to the server's port, from request
// parsing to option negotiation. Every RRQ/WRQ with a name and a mode is
// answered from a transfer port of its own; writes and names that
// cleanName refuses (or a symlink out of the root) only ever get an ERROR;
// an OACK acknowledges only options the client sent, with blksize within
// the client's request and Config.BlockSize, windowsize within the
// client's request and DefaultWindowSize, and tsize the file's size; the
// first DATA block has the negotiated size and the file's first bytes.
// After each packet the server still serves a plain request.
func FuzzRequest(f *testing.F) {
	root := f.TempDir()
	content := bytes.Repeat([]byte("byoi tftp fuzz 0123456789\n"), 200) // 5200 bytes
	files := map[string][]byte{"boot.efi": content, "a/b.efi": content[:700]}
	os.MkdirAll(filepath.Join(root, "a"), 0o755)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(root, "out")); err != nil {
		f.Fatal(err)
	}
	const blockSize = 1468
	server := fuzzServer(f, root, blockSize)
	rq := func(op byte, fields ...string) []byte {
		return []byte("\x00" + string(op) + strings.Join(fields, "\x00") + "\x00")
	}
	for _, seed := range [][]byte{
		rq(1, "boot.efi", "octet"), rq(1, "boot.efi", "octet", "blksize", "1432", "tsize", "0"),
		rq(1, "a/b.efi", "OCTET", "blksize", "65464"), rq(1, "boot.efi", "netascii", "windowsize", "4", "timeout", "1"),
		rq(1, "boot.efi", "octet", "blksize", "7"), rq(1, "boot.efi", "octet", "BLKSIZE", "-1", "tsize", "x"),
		rq(1, "../etc/passwd", "octet"), rq(1, "out", "octet"), rq(1, "a", "octet"), rq(1, "missing", "octet"),
		rq(2, "boot.efi", "octet", "tsize", "100"), rq(1, "boot.efi"), {0, 1}, {0, 4, 0, 1}, {0, 5, 0, 1, 'x', 0},
		rq(1, "boot.efi", "octet", "blksize", "1468", "windowsize", "4", "tsize", "0"), // EDK2
		rq(1, "boot.efi", "octet", "windowsize", "65535"), rq(1, "boot.efi", "octet", "windowsize", "0"),
		rq(1, "boot.efi", "octet", "WindowSize", "16", "windowsize", "x"), rq(1, "a/b.efi", "octet", "blksize", "8", "windowsize", "64"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		answered := len(p) >= 4 && (p[1] == 1 || p[1] == 2) && p[0] == 0 && len(rqFields(p)) >= 2
		wait := 20 * time.Millisecond
		if answered {
			wait = 2 * time.Second
		}
		ans, from, c := exchange(t, server, p, wait)
		if ans == nil {
			if answered {
				t.Fatalf("no answer to request %q", p)
			}
		} else {
			if !answered {
				t.Fatalf("answer %q to a packet that is not a request: %q", ans, p)
			}
			defer c.WriteTo([]byte{0, 5, 0, 0, 'x', 0}, from) // abort the transfer
			checkAnswer(t, p, ans, from, c, server, files)
		}
		got, from, c := exchange(t, server, rq(1, "a/b.efi", "octet"), 2*time.Second)
		if got != nil {
			// End it: a retransmission could otherwise reach a later
			// iteration's socket on the same port.
			defer c.WriteTo([]byte{0, 5, 0, 0, 'x', 0}, from)
		}
		if len(got) < 4 || got[1] != 3 {
			t.Fatalf("after %q the server answers a plain RRQ with %q, want DATA", p, got)
		}
	})
}

// checkAnswer checks the first answer to request p (see FuzzRequest).
func checkAnswer(t *testing.T, p, ans []byte, from net.Addr, c *net.UDPConn, server *net.UDPAddr, files map[string][]byte) {
	if from.(*net.UDPAddr).Port == server.Port {
		t.Fatalf("answer to %q from the listening port, want a transfer port", p)
	}
	fields := rqFields(p)
	name, mode := fields[0], strings.ToLower(fields[1])
	data, served := files[name]
	if len(ans) < 4 {
		t.Fatalf("answer %q to %q is shorter than a header", ans, p)
	}
	op := binary.BigEndian.Uint16(ans)
	if op == 5 {
		return
	}
	if p[1] == 2 || !served {
		t.Fatalf("request %q answered with opcode %d, want ERROR", p, op)
	}
	blk := 512
	if op == 6 {
		asked := map[string]string{}
		for i := 2; i+1 < len(fields); i += 2 {
			asked[fields[i]] = fields[i+1]
		}
		ack := rqFields(append([]byte{0, 0}, ans[2:]...))
		for i := 0; i+1 < len(ack); i += 2 {
			k, v := ack[i], ack[i+1]
			want, ok := asked[k]
			switch {
			case !ok:
				t.Fatalf("OACK %q to %q acknowledges an option not asked for", ans, p)
			case strings.EqualFold(k, "tsize") && v != strconv.Itoa(len(data)):
				t.Fatalf("OACK tsize %s, want %d", v, len(data))
			case strings.EqualFold(k, "blksize"):
				n, err := strconv.Atoi(v)
				w, _ := strconv.Atoi(want)
				if err != nil || n < 8 || n > min(w, DefaultBlockSize) {
					t.Fatalf("OACK blksize %s to a request for %s, want 8-%d", v, want, DefaultBlockSize)
				}
				blk = n
			case strings.EqualFold(k, "windowsize"):
				n, err := strconv.Atoi(v)
				w, _ := strconv.Atoi(want)
				if err != nil || n < 1 || n > min(w, DefaultWindowSize) {
					t.Fatalf("OACK windowsize %s to a request for %s, want 1-%d", v, want, min(w, DefaultWindowSize))
				}
			}
		}
		c.WriteTo([]byte{0, 4, 0, 0}, from)
		buf := make([]byte, 65536)
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no DATA after OACK %q to %q: %v", ans, p, err)
		}
		ans, op = buf[:n], binary.BigEndian.Uint16(buf)
	}
	if op != 3 || binary.BigEndian.Uint16(ans[2:]) != 1 {
		t.Fatalf("request %q: answer %.8q, want DATA block 1", p, ans)
	}
	if mode == "octet" && !bytes.Equal(ans[4:], data[:min(blk, len(data))]) {
		t.Fatalf("request %q: DATA block 1 holds %d bytes %.16q, want the file's first %d", p, len(ans)-4, ans[4:], min(blk, len(data)))
	}
}
