package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/sys/unix"
)

// ListenAndServe binds port 67 and 4011 on each configured interface
// (SO_BINDTODEVICE, so byoi answers only there) and serves until ctx ends.
// In off mode it returns at once.
func (s *Server) ListenAndServe(ctx context.Context) error {
	conns, err := s.Listen(ctx)
	if err != nil {
		return err
	}
	return s.ServeConns(ctx, conns)
}

// Listen loads the leases and binds ports 67 and 4011 on each configured
// interface; ServeConns serves on what it returns. Split so that a caller
// knows the ports are bound before it says it is serving. In off mode it
// returns no connection.
func (s *Server) Listen(ctx context.Context) ([]net.PacketConn, error) {
	if s.cfg.Mode == ModeOff {
		return nil, nil
	}
	if len(s.cfg.Interfaces) == 0 {
		return nil, errors.New("dhcp: no interface configured to serve on")
	}
	if err := s.LoadLeases(ctx); err != nil {
		return nil, err
	}
	var conns []net.PacketConn
	for _, ifname := range s.cfg.Interfaces {
		for _, port := range []int{PortDHCP, PortPXE} {
			c, err := server4.NewIPv4UDPConn(ifname, &net.UDPAddr{Port: port})
			if err != nil {
				for _, c := range conns {
					_ = c.Close()
				}
				return nil, fmt.Errorf("dhcp: listen on %s port %d: %w", ifname, port, err)
			}
			if err := setReadBuffer(c, readBuffer); err != nil {
				s.log.Warn("dhcp: receive buffer", "interface", ifname, "port", port, "err", err)
			}
			conns = append(conns, c)
		}
	}
	return conns, nil
}

// ServeConns serves on conns (from Listen) until ctx ends or one fails,
// then closes them all.
func (s *Server) ServeConns(ctx context.Context, conns []net.PacketConn) error {
	if len(conns) == 0 {
		return nil
	}
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(conns))
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Serve(ctx, c); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	s.log.Info("dhcp: serving", "mode", s.cfg.Mode, "interfaces", s.cfg.Interfaces, "server", s.cfg.ServerIP.String(), "known_only", s.cfg.KnownOnly)
	wg.Wait()
	close(errc)
	return <-errc
}

// readBuffer is the DHCP sockets' receive buffer: room for the DISCOVERs
// of a few thousand machines powered on at once (each datagram costs about
// 2 KiB of buffer), where Linux's default holds about a hundred.
const readBuffer = 4 << 20

// setReadBuffer sets conn's receive buffer to n bytes, beyond
// net.core.rmem_max with CAP_NET_ADMIN (SO_RCVBUFFORCE), else as far as
// rmem_max allows.
func setReadBuffer(conn *net.UDPConn, n int) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	if serr != nil {
		return conn.SetReadBuffer(n)
	}
	return nil
}
