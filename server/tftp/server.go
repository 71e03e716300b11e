// Package tftp serves the iPXE binaries to PXE firmware over TFTP: read-only,
// from one directory, with the blksize, tsize and windowsize options
// (RFC 2348, 2349, 7440).
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
//
// Each transfer runs on its own goroutine from a UDP socket of its own
// (RFC 1350's transfer ID), connected to the client. The block size granted
// is lowered to fit the MTU of the interface the request came in on (and of
// the route back to the client), so that no DATA packet is fragmented: a
// 1450-byte overlay gets 1418-byte blocks, not 1468. Files of up to
// maxCachedFile bytes are served from memory: a file is read once and its
// copy reused for as long as its identity, size and modification time stay
// the same. On Linux the blocks of a window go out together, in sends of up
// to 64 packets with UDP generic segmentation offload (UDP_SEGMENT): the
// kernel cuts each send into the same datagrams one write per block would
// make, at about half the CPU per packet (see batch_linux.go). A transfer
// whose socket or route refuses it (no checksum offload on the device, a
// kernel before 4.18) sends one write per block, as lock step always does.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

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
	// default fills a 1500-byte Ethernet frame exactly. On Linux a transfer
	// gets less when the link's MTU is smaller (MTU - 20 - 8 - 4 over IPv4,
	// - 40 - 8 - 4 over IPv6), never less than 512.
	BlockSize int
	// WindowSize is the largest windowsize granted to a client that asks
	// for one (DefaultWindowSize if 0; 1-1024). A client that does not ask
	// gets lock-step transfers (a window of 1).
	WindowSize int
	// Timeout is how long the server waits for an acknowledgement before
	// it sends the unacknowledged window again (DefaultTimeout if 0).
	Timeout time.Duration
	// Retries is how many times a window is sent again without progress
	// before the transfer is given up (DefaultRetries if 0).
	Retries int
	// MaxTransfers bounds the transfers in progress (DefaultMaxTransfers if
	// 0). Requests beyond it are dropped unanswered: the client sends its
	// request again after its timeout, by when transfers have ended.
	MaxTransfers int
}

// Defaults of Config.
const (
	DefaultBlockSize  = 1468 // 1500 - 20 (IPv4) - 8 (UDP) - 4 (TFTP)
	DefaultWindowSize = 64
	DefaultTimeout    = time.Second
	DefaultRetries    = 5
	// DefaultMaxTransfers: a transfer holds a socket (a file descriptor)
	// and a few KiB for at most Timeout × (Retries+1) without progress.
	DefaultMaxTransfers = 2048
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
	if c.BlockSize <= 512 || c.BlockSize > maxBlockSize {
		return c, fmt.Errorf("tftp: block size %d: must be 513-%d", c.BlockSize, maxBlockSize)
	}
	if c.WindowSize == 0 {
		c.WindowSize = DefaultWindowSize
	}
	if c.WindowSize < 1 || c.WindowSize > maxConfigWindow {
		return c, fmt.Errorf("tftp: window size %d: must be 1-%d", c.WindowSize, maxConfigWindow)
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
	if c.MaxTransfers == 0 {
		c.MaxTransfers = DefaultMaxTransfers
	}
	if c.MaxTransfers < 0 {
		return c, fmt.Errorf("tftp: negative max transfers %d", c.MaxTransfers)
	}
	return c, nil
}

// Server is a read-only TFTP server of one directory.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	cache   *fileCache
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
	return &Server{cfg: cfg, log: cfg.Logger, metrics: m, cache: newFileCache(maxCachedFile, maxCachedTotal)}, nil
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
// and waits for transfers in progress (each ends within its timeouts). It
// returns nil when stopped by ctx.
//
// Each transfer runs from a port of its own (RFC 1350's transfer IDs), on
// the address the request arrived at: when conn is a *net.UDPConn bound to
// a wildcard address, that address is read from each request's IP_PKTINFO
// (a request queued before Serve started has none and is answered from
// the address routing picks).
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()
	rd := newRequestReader(conn)
	slots := make(chan struct{}, s.cfg.MaxTransfers)
	var wg sync.WaitGroup
	defer wg.Wait()
	buf := make([]byte, maxRequest)
	for {
		n, arr, peer, err := rd.read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("tftp: serve: %w", err)
		}
		if peer == nil {
			continue
		}
		req, err := parseRequest(buf[:n])
		if err != nil {
			s.metrics.transfer(outcomeMalformed)
			s.log.Debug("tftp packet dropped", "client", peer.String(), "err", err)
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.metrics.transfer(outcomeBusy)
			s.log.Debug("tftp request dropped: too many transfers", "client", peer.String(), "file", req.name)
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			s.serveRequest(ctx, req, arr, peer)
		}()
	}
}
