package tftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"
)

// Errors a client sees. They never name a path on the server.
var (
	errRefused  = errors.New("access violation")
	errNotFound = errors.New("file not found")
)

// cleanName checks a requested file name: a relative path of visible
// components inside the root. TFTP names are taken literally (nothing is
// percent-decoded); names a PXE client has no reason to send are refused
// rather than interpreted.
func cleanName(name string) (string, error) {
	if name == "" || len(name) > 255 {
		return "", fmt.Errorf("name of %d bytes", len(name))
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("control character %#x", c)
		}
	}
	switch {
	case strings.HasPrefix(name, "/"):
		return "", errors.New("absolute path")
	case strings.ContainsAny(name, `\%`):
		return "", errors.New("backslash or percent sign")
	}
	for _, part := range strings.Split(name, "/") {
		switch {
		case part == "":
			return "", errors.New("empty path component")
		case part[0] == '.':
			return "", errors.New(`"." , ".." or hidden component`)
		}
	}
	return name, nil
}

// serveRequest answers one RRQ or WRQ from a socket of its own, connected
// to the client.
func (s *Server) serveRequest(ctx context.Context, req request, arr arrival, peer *net.UDPAddr) {
	start := time.Now()
	log := s.log.With("client", peer.String(), "file", req.name)
	conn, err := dialTransfer(arr.local, peer)
	if err != nil {
		s.metrics.transfer(outcomeFailed)
		log.Warn("tftp transfer socket", "err", err)
		return
	}
	defer conn.Close()
	refuse := func(outcome string, code uint16, msg, reason string) {
		s.metrics.transfer(outcome)
		log.Warn("tftp request refused", "outcome", outcome, "reason", reason)
		_, _ = conn.Write(errorPacket(code, msg))
	}
	if req.write {
		refuse(outcomeRefused, errCodeAccess, "access violation: this server is read-only", "write request")
		return
	}
	if req.mode != "octet" {
		refuse(outcomeRefused, errCodeIllegalOp, "only octet mode is served", fmt.Sprintf("mode %q", req.mode))
		return
	}
	clean, err := cleanName(req.name)
	if err != nil {
		refuse(outcomeRefused, errCodeAccess, errRefused.Error(), err.Error())
		return
	}
	src, size, closeSrc, err := s.open(clean)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			refuse(outcomeNotFound, errCodeNotFound, errNotFound.Error(), err.Error())
		} else {
			refuse(outcomeRefused, errCodeAccess, errRefused.Error(), err.Error())
		}
		return
	}
	defer closeSrc()
	neg := req.negotiate(s.cfg, blockLimit(s.cfg.BlockSize, linkMTU(conn, arr.ifindex), peer.IP), size)
	snd := newSender(conn, src, size, neg, s.cfg)
	n, err := snd.run(ctx)
	s.metrics.bytes.Add(float64(n))
	d := time.Since(start)
	var ce *clientError
	if errors.As(err, &ce) && ce.probe {
		// UEFI PXE asks for tsize first, reads the OACK and aborts; the
		// real download follows in a new request.
		s.metrics.transfer(outcomeProbe)
		log.Debug("tftp option probe ended by the client", "blksize", neg.blksize, "windowsize", neg.window, "err", err)
		return
	}
	if err != nil {
		s.metrics.transfer(outcomeFailed)
		log.Warn("tftp transfer failed", "bytes", n, "duration", d, "blksize", neg.blksize, "windowsize", neg.window, "err", err)
		return
	}
	s.metrics.transfer(outcomeOK)
	log.Info("tftp transfer", "bytes", n, "duration", d, "blksize", neg.blksize, "windowsize", neg.window)
}

// dialTransfer opens the transfer's socket: a new port on local (unless it
// is unknown or not a unicast address), connected to the client, so that
// the kernel drops datagrams from any other address or port.
func dialTransfer(local net.IP, peer *net.UDPAddr) (*net.UDPConn, error) {
	var laddr *net.UDPAddr
	if local != nil && !local.IsUnspecified() && !local.IsMulticast() && !local.Equal(net.IPv4bcast) {
		laddr = &net.UDPAddr{IP: local}
	}
	conn, err := net.DialUDP("udp", laddr, peer)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", peer, err)
	}
	return conn, nil
}

// open opens a regular file under the root and returns its content, from
// the cache when it is small enough, and its size. os.Root refuses any
// path, symbolic links included, that resolves outside the directory.
func (s *Server) open(name string) (src io.ReaderAt, size int64, closeFn func(), err error) {
	root, err := os.OpenRoot(s.cfg.Root)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("open root: %w", err)
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s is not a regular file", name)
	}
	if data, ok := s.cache.get(name, f, fi); ok {
		f.Close()
		return bytes.NewReader(data), int64(len(data)), func() {}, nil
	}
	return f, fi.Size(), func() { f.Close() }, nil
}
