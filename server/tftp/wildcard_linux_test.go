package tftp

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestWildcardListen: on a socket bound to a wildcard address, transfers
// answer from the address the request was sent to (127.0.0.2 here, where
// routing alone would pick 127.0.0.1 to reach the client on 127.0.0.1;
// rawRRQ checks where the answer comes from).
func TestWildcardListen(t *testing.T) {
	for _, network := range []string{"udp4", "udp"} {
		t.Run(network, func(t *testing.T) {
			root := t.TempDir()
			want := writeRandom(t, filepath.Join(root, "f"), 3000)
			s, err := New(Config{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.ListenPacket(network, ":0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, conn) }()
			defer func() { cancel(); <-done }()
			addr := net.JoinHostPort("127.0.0.2", strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port))
			// A request queued before Serve enabled IP_PKTINFO carries no
			// address; once one is answered, Serve reads with it enabled.
			server, _ := net.ResolveUDPAddr("udp4", addr)
			if ans, _, _ := exchange(t, server, []byte("\x00\x01f\x00octet\x00"), 5*time.Second); ans == nil {
				t.Fatal("no answer to a first request")
			}
			oack, _ := rawRRQ(t, addr, "f", "blksize", "1000")
			if oack["blksize"] != "1000" {
				t.Errorf("OACK %v, want blksize 1000", oack)
			}
			got, _, err := get(t, addr, "f", 1468)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("get(f) via %s = %d bytes, %v; want the file", network, len(got), err)
			}
		})
	}
}
