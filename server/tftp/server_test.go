package tftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// testServer is a Server on 127.0.0.1:0 with its root, registry and logs.
type testServer struct {
	s    *Server
	addr string
	root string
	reg  *prometheus.Registry
	logs *syncBuffer
	stop func() error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer serves root (a fresh temporary directory if "") until the
// test ends.
func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	return startServerWith(t, cfg, nil)
}

// wrappedConn hides the *net.UDPConn behind a plain net.PacketConn.
type wrappedConn struct{ net.PacketConn }

// startServerWith is startServer with the listening conn passed through wrap.
func startServerWith(t *testing.T, cfg Config, wrap func(net.PacketConn) net.PacketConn) *testServer {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	ts := &testServer{root: cfg.Root, reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg.Registerer = ts.reg
	cfg.Logger = slog.New(slog.NewJSONHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = conn.LocalAddr().String()
	ts.s = s
	if wrap != nil {
		conn = wrap(conn)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	var once sync.Once
	var stopErr error
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("Serve did not return 10s after its context ended")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
	})
	return ts
}

func writeRandom(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// get downloads name with pin/tftp's client.
func get(t *testing.T, addr, name string, blksize int) (data []byte, tsize int64, err error) {
	t.Helper()
	c, err := tftp.NewClient(addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(time.Second)
	c.SetRetries(2)
	if blksize > 0 {
		c.SetBlockSize(blksize)
	}
	c.RequestTSize(true)
	wt, err := c.Receive(name, "octet")
	if err != nil {
		return nil, 0, err
	}
	tsize = -1
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		if n, ok := it.Size(); ok {
			tsize = n
		}
	}
	var buf bytes.Buffer
	_, err = wt.WriteTo(&buf)
	return buf.Bytes(), tsize, err
}

func TestDownload(t *testing.T) {
	ts := startServer(t, Config{})
	want := writeRandom(t, filepath.Join(ts.root, "ipxe.efi"), 1<<20)
	os.Mkdir(filepath.Join(ts.root, "sub"), 0o755)
	small := writeRandom(t, filepath.Join(ts.root, "sub", "x.kpxe"), 1000)
	writeRandom(t, filepath.Join(ts.root, "exact"), 3*512)

	tests := []struct {
		name    string
		file    string
		blksize int
		want    []byte
	}{
		{"1 MiB default blksize", "ipxe.efi", 0, want},
		{"1 MiB blksize 512", "ipxe.efi", 512, want},
		{"1 MiB blksize 1468", "ipxe.efi", 1468, want},
		{"1 MiB blksize 8192 (capped)", "ipxe.efi", 8192, want},
		{"subdirectory", "sub/x.kpxe", 1468, small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tsize, err := get(t, ts.addr, tt.file, tt.blksize)
			if err != nil {
				t.Fatalf("get(%q) = %v", tt.file, err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("get(%q) = %d bytes, not equal to the file (%d bytes)", tt.file, len(got), len(tt.want))
			}
			if tsize != int64(len(tt.want)) {
				t.Errorf("get(%q) tsize = %d, want %d", tt.file, tsize, len(tt.want))
			}
		})
	}
	t.Run("multiple of block size", func(t *testing.T) {
		got, _, err := get(t, ts.addr, "exact", 512)
		if err != nil || len(got) != 3*512 {
			t.Fatalf("get(exact) = %d bytes, %v, want 1536, nil", len(got), err)
		}
	})

	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, ts.reg, "byoi_tftp_transfers_total", "ok"); got != float64(len(tests)+1) {
		t.Errorf("byoi_tftp_transfers_total{outcome=ok} = %v, want %d", got, len(tests)+1)
	}
	wantBytes := float64(4*len(want) + len(small) + 3*512)
	if got := counter(t, ts.reg, "byoi_tftp_bytes_total", ""); got != wantBytes {
		t.Errorf("byoi_tftp_bytes_total = %v, want %v", got, wantBytes)
	}
	for _, want := range []string{`"msg":"tftp transfer"`, `"file":"ipxe.efi"`, `"bytes":1048576`, `"client":"127.0.0.1:`, `"duration":`} {
		if !strings.Contains(ts.logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, ts.logs.String())
		}
	}
}

// counter reads a counter from a registry; label is the outcome, or "" for
// an unlabelled counter.
func counter(t *testing.T, reg *prometheus.Registry, name, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := outcome == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{outcome=%q} not found", name, outcome)
	return 0
}

func TestNewErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no root", Config{}},
		{"missing root", Config{Root: filepath.Join(t.TempDir(), "nope")}},
		{"root is a file", Config{Root: file}},
		{"block size 512", Config{Root: t.TempDir(), BlockSize: 512}},
		{"block size too large", Config{Root: t.TempDir(), BlockSize: 65465}},
		{"negative timeout", Config{Root: t.TempDir(), Timeout: -time.Second}},
		{"negative retries", Config{Root: t.TempDir(), Retries: -1}},
		{"window size too large", Config{Root: t.TempDir(), WindowSize: maxConfigWindow + 1}},
		{"negative window size", Config{Root: t.TempDir(), WindowSize: -1}},
		{"negative max transfers", Config{Root: t.TempDir(), MaxTransfers: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := New(tt.cfg); err == nil {
				t.Errorf("New(%+v) = %v, nil; want an error", tt.cfg, s)
			}
		})
	}
	t.Run("registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		if _, err := New(Config{Root: t.TempDir(), Registerer: reg}); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{Root: t.TempDir(), Registerer: reg}); err == nil {
			t.Error("second New on the same registry = nil error, want one")
		}
	})
}

func TestServeStopsWithContext(t *testing.T) {
	s, err := New(Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, "127.0.0.1:0") }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if err := s.ListenAndServe(context.Background(), "256.0.0.1:69"); err == nil {
		t.Error("ListenAndServe(256.0.0.1:69) = nil, want an error")
	}
}
