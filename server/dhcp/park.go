package dhcp

import (
	"context"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// A DISCOVER that finds the pool exhausted is parked and answered as soon
// as a RELEASE frees an address, instead of leaving the client to its next
// retry. The client's retransmissions keep its place in line and move its
// deadline to parkTime after the latest one, which covers the gaps between
// PXE firmware's first retries (4, 8, 16 s), so that an address freed
// between two retries still goes to the client that waits longest. At
// most maxParked wait at once, one per client, served in arrival order,
// one per freed address.
const (
	parkTime  = 16 * time.Second
	maxParked = 1024
)

// parkedDiscover is one client waiting for an address. req, peer and until
// are guarded by the Server's mutex.
type parkedDiscover struct {
	mac   string
	req   *dhcpv4.DHCPv4 // the latest copy: its xid is the one the client waits for
	peer  net.Addr
	until time.Time
	wake  chan struct{} // closed to hand it a freed address
	done  chan struct{} // closed when the client was answered otherwise
}

// park queues req, or refreshes the queued DISCOVER of the same client,
// and sends the OFFER with send once an address is freed for it.
func (s *Server) park(ctx context.Context, req *dhcpv4.DHCPv4, peer net.Addr, port int, send func(*dhcpv4.DHCPv4, net.Addr)) {
	mac := req.ClientHWAddr.String()
	s.mu.Lock()
	if i := slices.IndexFunc(s.parked, func(p *parkedDiscover) bool { return p.mac == mac }); i >= 0 {
		w := s.parked[i]
		w.req, w.peer, w.until = req, peer, time.Now().Add(s.parkTime)
		s.mu.Unlock()
		return
	}
	if len(s.parked) >= maxParked {
		s.mu.Unlock()
		return
	}
	w := &parkedDiscover{mac: mac, req: req, peer: peer, until: time.Now().Add(s.parkTime),
		wake: make(chan struct{}), done: make(chan struct{})}
	s.parked = append(s.parked, w)
	s.mu.Unlock()
	s.count("discover", "parked")
	s.waitParked(ctx, w, port, send)
}

func (s *Server) waitParked(ctx context.Context, w *parkedDiscover, port int, send func(*dhcpv4.DHCPv4, net.Addr)) {
	timer := time.NewTimer(s.parkTime)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.unpark(w)
			return
		case <-w.done:
			return
		case <-timer.C:
			s.mu.Lock()
			left := time.Until(w.until)
			if left <= 0 {
				s.parked = slices.DeleteFunc(s.parked, func(p *parkedDiscover) bool { return p == w })
			}
			s.mu.Unlock()
			if left <= 0 {
				return
			}
			timer.Reset(left)
			continue
		case <-w.wake:
		}
		s.mu.Lock()
		req, peer := w.req, w.peer
		s.mu.Unlock()
		reply, err := s.Reply(ctx, req, port)
		switch {
		case errors.Is(err, ErrPoolExhausted): // taken by another client: wait again, first in line
			s.mu.Lock()
			if slices.ContainsFunc(s.parked, func(p *parkedDiscover) bool { return p.mac == w.mac }) {
				s.mu.Unlock() // a retransmission queued meanwhile waits instead
				return
			}
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

// cancelParkedLocked ends the wait of mac's parked DISCOVER, if any: the
// client was offered an address without it. Callers hold s.mu.
func (s *Server) cancelParkedLocked(mac string) {
	i := slices.IndexFunc(s.parked, func(p *parkedDiscover) bool { return p.mac == mac })
	if i < 0 {
		return
	}
	close(s.parked[i].done)
	s.parked = slices.Delete(s.parked, i, i+1)
}

// wakeParkedLocked hands a freed address to the first parked DISCOVER.
// Callers hold s.mu.
func (s *Server) wakeParkedLocked() {
	if len(s.parked) == 0 {
		return
	}
	w := s.parked[0]
	s.parked = s.parked[1:]
	close(w.wake)
}
