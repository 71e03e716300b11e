// Package tftp serves the iPXE binaries to PXE firmware over TFTP: read-only,
// from one directory, with the blksize and tsize options (RFC 2348, 2349).
//
//	s, err := tftp.New(tftp.Config{Root: "/var/lib/byoi/boot", Logger: log})
//	if err != nil { … }
//	err = s.ListenAndServe(ctx, ":69") // until ctx ends
//
// Names are checked before anything is opened (no absolute paths, no ".."
// or hidden components, no backslashes or control characters), and files
// are opened through os.Root, so no symbolic link leads out of the
// directory. Write requests are refused. Every transfer is logged with the
// client, file, bytes and duration, and counted in
// byoi_tftp_transfers_total{outcome} and byoi_tftp_bytes_total.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Server. The zero value serves nothing useful but is
// valid except for Root.
type Config struct {
	// Root is the directory served, read-only. Required.
	Root string
	// Logger receives one line per transfer; discarded if nil.
	Logger *slog.Logger
	// Registerer receives the server's metrics; none are registered if nil.
	Registerer prometheus.Registerer
	// BlockSize is the largest block size granted to a client that asks for
	// one with the blksize option (DefaultBlockSize if 0; 513-65464). A
	// client that does not ask gets 512 bytes, as RFC 1350 requires. The
	// default fills a 1500-byte Ethernet frame exactly.
	BlockSize int
	// Timeout is how long the server waits for each acknowledgement before
	// it retransmits (DefaultTimeout if 0).
	Timeout time.Duration
	// Retries is how many times a block is sent before the transfer is
	// given up (DefaultRetries if 0).
	Retries int
}

// Defaults of Config.
const (
	DefaultBlockSize = 1468 // 1500 - 20 (IPv4) - 8 (UDP) - 4 (TFTP)
	DefaultTimeout   = 5 * time.Second
	DefaultRetries   = 5
)

// withDefaults fills zero fields and checks the others.
func (c Config) withDefaults() (Config, error) {
	if c.Root == "" {
		return c, errors.New("tftp: no root directory")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.BlockSize == 0 {
		c.BlockSize = DefaultBlockSize
	}
	if c.BlockSize <= 512 || c.BlockSize > 65464 {
		return c, fmt.Errorf("tftp: block size %d: must be 513-65464", c.BlockSize)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return c, fmt.Errorf("tftp: negative timeout %s", c.Timeout)
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.Retries < 0 {
		return c, fmt.Errorf("tftp: negative retries %d", c.Retries)
	}
	return c, nil
}

// Server is a read-only TFTP server of one directory.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
}

// New checks cfg, opens nothing yet but checks that Root is a directory,
// and registers the metrics.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("tftp: root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("tftp: root %s is not a directory", cfg.Root)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger, metrics: m}, nil
}

// ListenAndServe listens on the UDP address addr (e.g. ":69") and serves
// until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("tftp: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, conn)
}

// Serve answers requests arriving on conn until ctx ends, then closes conn
// and waits for transfers in progress (each ends within its timeout). It
// returns nil when stopped by ctx.
//
// Each transfer runs from a port of its own (RFC 1350's transfer IDs), on
// the address the request arrived at. pin/tftp's single-port mode is not
// used: it grants only 512-byte blocks and was several times slower.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	ts := tftp.NewServer(s.handleRead, s.handleWrite)
	ts.SetTimeout(s.cfg.Timeout)
	ts.SetRetries(s.cfg.Retries)
	// Grant the client's blksize up to BlockSize. pin/tftp's own MTU clamp
	// is off: it needs a per-packet control message and falls back to 512
	// bytes whenever one is missing (measured: a request that arrived before
	// Serve had enabled them, and every request on a conn that is not a
	// *net.UDPConn). Clients size their request from their own MTU.
	ts.SetBlockSizeNegotiation(false)
	ts.SetBlockSize(s.cfg.BlockSize)
	ts.SetHook(hook{s})

	errc := make(chan error, 1)
	go func() { errc <- ts.Serve(conn) }()
	select {
	case err := <-errc:
		conn.Close()
		if err != nil {
			return fmt.Errorf("tftp: serve: %w", err)
		}
		return errors.New("tftp: server stopped")
	case <-ctx.Done():
	}
	ts.Shutdown()
	// Shutdown closes conn only if Serve had already stored it; close it
	// again so a Serve that started late cannot stay blocked in a read.
	conn.Close()
	<-errc
	return nil
}

// handleWrite refuses every write request.
func (s *Server) handleWrite(name string, wt io.WriterTo) error {
	client := ""
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		addr := it.RemoteAddr()
		client = addr.String()
	}
	s.metrics.transfer(outcomeRefused)
	s.log.Warn("tftp write refused", "client", client, "file", name)
	return errors.New("access violation: this server is read-only")
}
