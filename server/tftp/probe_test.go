package tftp

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSizeProbe: UEFI PXE first asks for tsize, reads the OACK and ends the
// transfer with ERROR 8 before the real download. That is counted as a
// probe and logged at debug level, not as a failed transfer; an abort after
// data was sent still is a failure.
func TestSizeProbe(t *testing.T) {
	ts := startServer(t, Config{})
	if err := os.WriteFile(filepath.Join(ts.root, "ipxe.efi"), make([]byte, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server, err := net.ResolveUDPAddr("udp4", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	req := []byte("\x00\x01ipxe.efi\x00octet\x00tsize\x000\x00blksize\x001468\x00windowsize\x004\x00")
	if _, err := conn.WriteTo(req, server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, peer, err := conn.ReadFrom(buf)
	if err != nil || n < 2 || binary.BigEndian.Uint16(buf) != 6 {
		t.Fatalf("answer to the probe = %q, %v; want an OACK", buf[:n], err)
	}
	if !strings.Contains(string(buf[2:n]), "tsize\x005000\x00") {
		t.Errorf("OACK %q lacks tsize 5000", buf[2:n])
	}
	conn.WriteTo([]byte("\x00\x05\x00\x08User aborted the transfer\x00"), peer)
	rawRRQ(t, ts.addr, "ipxe.efi", "blksize", "1468") // aborted after its first DATA: a failure
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, ts.reg, "byoi_tftp_transfers_total", outcomeProbe); got != 1 {
		t.Errorf("byoi_tftp_transfers_total{outcome=probe} = %v, want 1", got)
	}
	if got := counter(t, ts.reg, "byoi_tftp_transfers_total", outcomeFailed); got != 1 {
		t.Errorf("byoi_tftp_transfers_total{outcome=failed} = %v, want 1 (the abort after data)", got)
	}
	if logs := ts.logs.String(); !strings.Contains(logs, "tftp option probe ended by the client") || strings.Count(logs, "tftp transfer failed") != 1 {
		t.Errorf("logs: want one probe record and one failure record:\n%s", logs)
	}
}
