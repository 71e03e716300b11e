package tftp

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawRRQ sends a read request with the given options from a plain UDP
// socket and returns the options of the server's OACK (nil if it answered
// with DATA directly) and the length of the first DATA block. It then
// aborts the transfer with an ERROR packet.
func rawRRQ(t *testing.T, addr, name string, opts ...string) (oack map[string]string, firstBlock int) {
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
	req := []byte{0, 1}
	for _, s := range append([]string{name, "octet"}, opts...) {
		req = append(append(req, s...), 0)
	}
	if _, err := conn.WriteTo(req, server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 70000)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, peer, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer to RRQ %q %v: %v", name, opts, err)
	}
	if from := peer.(*net.UDPAddr); !from.IP.Equal(server.IP) || from.Port == server.Port {
		t.Fatalf("answer to RRQ %q from %s, want a new port on %s", name, from, server.IP)
	}
	defer conn.WriteTo([]byte{0, 5, 0, 0, 'x', 0}, peer) // abort
	switch op := binary.BigEndian.Uint16(buf); op {
	case 3: // DATA without options
		return nil, n - 4
	case 6: // OACK
		fields := strings.Split(strings.TrimSuffix(string(buf[2:n]), "\x00"), "\x00")
		oack = map[string]string{}
		for i := 0; i+1 < len(fields); i += 2 {
			oack[fields[i]] = fields[i+1]
		}
	default:
		t.Fatalf("answer to RRQ %q %v: opcode %d (%q)", name, opts, op, buf[2:n])
	}
	conn.WriteTo([]byte{0, 4, 0, 0}, peer) // ACK block 0
	n, _, err = conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no DATA after OACK: %v", err)
	}
	if op := binary.BigEndian.Uint16(buf); op != 3 || binary.BigEndian.Uint16(buf[2:]) != 1 {
		t.Fatalf("after OACK: opcode %d block %d, want DATA block 1", op, binary.BigEndian.Uint16(buf[2:]))
	}
	return oack, n - 4
}

func TestOptions(t *testing.T) {
	ts := startServer(t, Config{})
	size := 100000
	writeRandom(t, filepath.Join(ts.root, "undionly.kpxe"), size)
	tests := []struct {
		name      string
		opts      []string
		wantOACK  map[string]string
		wantBlock int
	}{
		{"no options: 512", nil, nil, 512},
		{"blksize 512", []string{"blksize", "512"}, map[string]string{"blksize": "512"}, 512},
		{"blksize 1468", []string{"blksize", "1468"}, map[string]string{"blksize": "1468"}, 1468},
		{"blksize 1432 (iPXE's)", []string{"blksize", "1432"}, map[string]string{"blksize": "1432"}, 1432},
		{"blksize above the cap", []string{"blksize", "65464"}, map[string]string{"blksize": "1468"}, 1468},
		{"tsize", []string{"tsize", "0"}, map[string]string{"tsize": "100000"}, 512},
		{"blksize and tsize", []string{"blksize", "1468", "tsize", "0"}, map[string]string{"blksize": "1468", "tsize": "100000"}, 1468},
		{"unknown option dropped", []string{"timeout", "1", "blksize", "1024"}, map[string]string{"blksize": "1024"}, 1024},
		{"windowsize", []string{"windowsize", "4"}, map[string]string{"windowsize": "4"}, 512},
		{"windowsize above the cap", []string{"windowsize", "65535"}, map[string]string{"windowsize": "64"}, 512},
		{"windowsize 0 invalid", []string{"windowsize", "0", "tsize", "0"}, map[string]string{"tsize": "100000"}, 512},
		{"blksize, windowsize and tsize (EDK2)", []string{"blksize", "1468", "windowsize", "4", "tsize", "0"},
			map[string]string{"blksize": "1468", "windowsize": "4", "tsize": "100000"}, 1468},
		{"names case-insensitive, echoed as sent", []string{"BlkSize", "1024", "WINDOWSIZE", "8"}, map[string]string{"BlkSize": "1024", "WINDOWSIZE": "8"}, 1024},
		{"last occurrence decides", []string{"blksize", "1024", "blksize", "7"}, nil, 512},
		{"blksize below 8 ignored", []string{"blksize", "7", "tsize", "0"}, map[string]string{"tsize": "100000"}, 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oack, block := rawRRQ(t, ts.addr, "undionly.kpxe", tt.opts...)
			if diff := cmp.Diff(tt.wantOACK, oack); diff != "" {
				t.Errorf("OACK options (-want +got):\n%s", diff)
			}
			if block != tt.wantBlock {
				t.Errorf("first DATA block = %d bytes, want %d", block, tt.wantBlock)
			}
		})
	}
}

// TestBlockSizeConfig: a smaller configured cap is what clients get, also
// through a PacketConn that is not a *net.UDPConn.
func TestBlockSizeConfig(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "f"), bytes.Repeat([]byte{1}, 5000), 0o644)
	for _, wrapped := range []bool{false, true} {
		var wrap func(net.PacketConn) net.PacketConn
		if wrapped {
			wrap = func(c net.PacketConn) net.PacketConn { return wrappedConn{c} }
		}
		ts := startServerWith(t, Config{Root: root, BlockSize: 1024}, wrap)
		for _, req := range []struct{ ask, want string }{{"1468", "1024"}, {"600", "600"}, {"1024", "1024"}} {
			oack, block := rawRRQ(t, ts.addr, "f", "blksize", req.ask)
			if oack["blksize"] != req.want || strconv.Itoa(block) != req.want {
				t.Errorf("wrapped=%v: blksize %s with BlockSize 1024: OACK %v, block %d; want %s", wrapped, req.ask, oack, block, req.want)
			}
		}
	}
}
