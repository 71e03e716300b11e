package dhcp

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// A DISCOVER that finds the pool exhausted is parked for up to parkTime
// and answered as soon as a RELEASE frees an address, instead of leaving
// the client to its next retry (1 to 8 s later, up to 32 s for UEFI
// firmware). At most maxParked wait at once, one per client, served in
// arrival order, one per freed address.
const (
	parkTime  = 3 * time.Second
	maxParked = 256
)

type parkedDiscover struct {
	mac  string
	wake chan struct{}
}

// park waits for a freed address for req and sends the OFFER with send.
func (s *Server) park(ctx context.Context, req *dhcpv4.DHCPv4, peer net.Addr, port int, send func(*dhcpv4.DHCPv4, net.Addr)) {
	w := &parkedDiscover{mac: req.ClientHWAddr.String(), wake: make(chan struct{})}
	s.mu.Lock()
	if len(s.parked) >= maxParked || slices.ContainsFunc(s.parked, func(p *parkedDiscover) bool { return p.mac == w.mac }) {
		s.mu.Unlock()
		return
	}
	s.parked = append(s.parked, w)
	s.mu.Unlock()
	s.count("discover", "parked")
	timer := time.NewTimer(parkTime)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.unpark(w)
			return
		case <-timer.C:
			s.unpark(w)
			return
		case <-w.wake:
		}
		reply, err := s.Reply(ctx, req, port)
		switch {
		case errors.Is(err, ErrPoolExhausted): // taken by another client: wait again, first in line
			s.mu.Lock()
			w.wake = make(chan struct{})
			s.parked = append([]*parkedDiscover{w}, s.parked...)
			s.mu.Unlock()
		case err != nil:
			s.count("discover", "error")
			s.log.Error("dhcp: cannot answer parked discover", "mac", w.mac, "err", err)
			return
		case reply != nil:
			send(reply, s.answered(ctx, req, reply, peer, port))
			return
		default:
			return
		}
	}
}

// unpark takes w out of the queue if it is still waiting.
func (s *Server) unpark(w *parkedDiscover) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.parked = slices.DeleteFunc(s.parked, func(p *parkedDiscover) bool { return p == w })
}

// wakeParked hands a freed address to the first parked DISCOVER. Callers
// hold s.mu.
func (s *Server) wakeParked() {
	if len(s.parked) == 0 {
		return
	}
	w := s.parked[0]
	s.parked = s.parked[1:]
	close(w.wake)
}
