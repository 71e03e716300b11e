package tftp

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestMaxTransfers: a request beyond MaxTransfers is dropped unanswered
// and counted as busy; once a transfer ends, requests are served again.
func TestMaxTransfers(t *testing.T) {
	ts := startServer(t, Config{MaxTransfers: 1, Timeout: 5 * time.Second})
	writeRandom(t, filepath.Join(ts.root, "f"), 5000)
	server, err := net.ResolveUDPAddr("udp4", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	rrq := []byte("\x00\x01f\x00octet\x00blksize\x001024\x00")
	// The first transfer holds the only slot: its OACK is never acknowledged.
	first, from, cl := exchange(t, server, rrq, 2*time.Second)
	if len(first) < 2 || first[1] != opOACK {
		t.Fatalf("first request answered with %q, want OACK", first)
	}
	if ans, _, _ := exchange(t, server, rrq, 300*time.Millisecond); ans != nil {
		t.Fatalf("request beyond MaxTransfers answered with %q, want no answer", ans)
	}
	// Aborting the first transfer frees its slot.
	if _, err := cl.WriteTo(errorPacket(errCodeUndefined, "abort"), from); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		ans, from, cl := exchange(t, server, rrq, 300*time.Millisecond)
		if ans != nil {
			cl.WriteTo(errorPacket(errCodeUndefined, "abort"), from)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request served 3 s after the only transfer was aborted")
		}
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, ts.reg, "byoi_tftp_transfers_total", "busy"); got < 1 {
		t.Errorf("byoi_tftp_transfers_total{outcome=busy} = %v, want ≥ 1", got)
	}
}
