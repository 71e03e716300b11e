// Package nbd is a small read-only Network Block Device server: it serves an
// io.ReaderAt (BYOLinux's qcow2 image read in place over HTTP) so that the
// kernel's NBD client turns it into /dev/nbdN and the installer can mount
// the file system inside, read-only, without staging the image anywhere.
//
// It speaks the fixed newstyle handshake (NBD_OPT_EXPORT_NAME, NBD_OPT_GO,
// NBD_OPT_INFO, NBD_OPT_LIST, NBD_OPT_ABORT; every other option is
// answered NBD_REP_ERR_UNSUP) and the transmission phase with simple
// replies: READ, FLUSH (a no-op), DISC; WRITE, TRIM and WRITE_ZEROES get
// EPERM, as the export is read-only. Requests are served one at a time, in
// order; a read is streamed in chunks of at most ChunkSize bytes, so memory
// does not grow with the request length.
//
// With the kernel client (Linux, see Attach) the handshake is skipped: the
// kernel is given one end of a socket pair already in transmission.
//
//	dev, err := nbd.Attach(ctx, "/dev/nbd0", nbd.Export{Data: r, Size: n})
//	defer dev.Close()                 // NBD_DISCONNECT, waits for the server
//	unix.Mount(dev.Path, "/mnt", "ext4", unix.MS_RDONLY, "noload")
//
// Over TCP or a Unix socket (qemu-img, nbd-client, tests):
//
//	srv := &nbd.Server{Export: nbd.Export{Name: "image", Data: r, Size: n}}
//	err := srv.Serve(ctx, listener)
package nbd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Protocol constants (the NBD protocol document, "proto.md").
const (
	magicNBD        = 0x4e42444d41474943 // "NBDMAGIC"
	magicOpt        = 0x49484156454f5054 // "IHAVEOPT"
	magicOptReply   = 0x0003e889045565a9
	magicRequest    = 0x25609513
	magicSimpleRepl = 0x67446698

	flagFixedNewstyle = 1 << 0
	flagNoZeroes      = 1 << 1

	optExportName = 1
	optAbort      = 2
	optList       = 3
	optInfo       = 6
	optGo         = 7

	repAck         = 1
	repServer      = 2
	repInfo        = 3
	repErrUnsup    = 1<<31 + 1
	repErrInvalid  = 1<<31 + 3
	repErrUnknown  = 1<<31 + 6
	repErrTooBig   = 1<<31 + 9
	infoExport     = 0
	infoBlockSize  = 3
	maxOptionBytes = 64 << 10

	// Transmission flags.
	tflagHasFlags  = 1 << 0
	tflagReadOnly  = 1 << 1
	tflagSendFlush = 1 << 2
	tflagMultiConn = 1 << 8

	cmdRead        = 0
	cmdWrite       = 1
	cmdDisc        = 2
	cmdFlush       = 3
	cmdTrim        = 4
	cmdCache       = 5
	cmdWriteZeroes = 6

	errPerm     = 1
	errIO       = 5
	errInval    = 22
	errOverflow = 75
)

// ChunkSize is the largest piece a read is served in.
const ChunkSize = 1 << 20

// MaxRequest is the largest read or write length accepted (the kernel's
// own limit for NBD devices is 32 MiB); longer requests get EINVAL.
const MaxRequest = 32 << 20

// Export is what a server serves: Size bytes of Data under Name.
type Export struct {
	Name string
	Data io.ReaderAt
	Size int64
}

// Server serves one read-only export to any number of connections. The
// zero value needs Export set; Logger nil discards.
type Server struct {
	Export Export
	Logger *slog.Logger

	mu    sync.Mutex
	stats Stats
}

// Stats counts what the server did.
type Stats struct {
	Requests  int64 // transmission requests of every kind
	Reads     int64
	ReadBytes int64
	Errors    int64 // requests answered with an error
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve accepts connections on l until ctx ends or l fails, serving each
// (handshake, then transmission) on its own goroutine. It closes l and
// waits for the connections when it returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("nbd: accept: %w", err)
		}
		wg.Go(func() {
			if err := s.ServeConn(ctx, c); err != nil {
				s.log().Warn("nbd connection ended", "remote", c.RemoteAddr(), "err", err)
			}
		})
	}
}

// ServeConn runs the handshake on c, then the transmission phase, until
// the client disconnects, ctx ends or c fails. It closes c. A client that
// aborts or only lists exports ends it with a nil error.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) error {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	r, err := s.handshake(c)
	if err != nil || r == nil {
		return err
	}
	return s.transmit(r, c)
}
