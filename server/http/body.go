package http

import (
	"bytes"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"runtime/debug"
	"time"
)

// What a request body may cost before its sender is known. Every API and
// agent route answers from the headers first: a request with no
// credential, an unknown one, or one that may not make the call is refused
// without its body being read (the connection is closed if the body is
// large, so nothing is buffered either). The body of a request that passed
// is read:
//   - only if it announces at most MaxBodyBytes (else 413 at once), and
//     never beyond MaxBodyBytes;
//   - within BodyTimeout of its headers (bodyDeadline; the connection is
//     dropped afterwards), so a sender that trickles its body cannot hold
//     memory and a goroutine for long;
//   - in at most BodiesInFlight requests at once: others wait for a slot
//     up to BodyTimeout, then get 503. Bodies in memory are therefore
//     bounded by BodiesInFlight × MaxBodyBytes (16 MiB by default),
//     whatever the number of connections. The agent's log route alone
//     takes up to MaxLogBodyBytes (a full batch of MaxLogLines lines of
//     MaxLogLine bytes, JSON-quoted), so installers sending full log
//     batches at once may hold twice that.
// The OVH signature covers the body, so a request whose OVH headers pass
// (a real application and consumer key, a fresh timestamp) has its body
// read before its signature can be refused; the bounds above are what
// holds then.

// bodyDeadline gives every request that carries a body BodyTimeout to
// deliver it, from the moment its headers were read, whatever the route:
// the server itself reads (and discards) a body a handler left unread, and
// without a deadline a sender that stalls would hold its connection and
// goroutine for ever.
func (s *Server) bodyDeadline(next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.ContentLength != 0 {
			_ = nethttp.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
		}
		next.ServeHTTP(w, r)
	})
}

// closeUnread marks the answer to a request whose body is left unread (or
// half read) as the last on its connection, so that the server does not
// wait for the rest before answering.
func closeUnread(w nethttp.ResponseWriter, r *nethttp.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// errBusy answers a request that found no body slot in time.
var errBusy = errorf(nethttp.StatusServiceUnavailable, "Too many requests in progress: retry in a moment")

// readBody reads the request body within the bounds above.
func (s *Server) readBody(w nethttp.ResponseWriter, r *nethttp.Request) ([]byte, error) {
	return s.readBodyUpTo(w, r, s.cfg.MaxBodyBytes)
}

// readBodyUpTo is readBody with its own size limit (the agent's log
// route, whose full batch is larger than other requests).
func (s *Server) readBodyUpTo(w nethttp.ResponseWriter, r *nethttp.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == nethttp.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		closeUnread(w, r)
		return nil, tooLarge(limit)
	}
	wait := time.NewTimer(s.cfg.BodyTimeout)
	defer wait.Stop()
	select {
	case s.bodies <- struct{}{}:
	case <-wait.C:
		closeUnread(w, r)
		return nil, errBusy
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	var body []byte
	defer func() { s.releaseBody(cap(body)) }()
	// The read deadline is bodyDeadline's (Serve sets it for every
	// request with a body); handlers served without Serve have none.
	body, err := readAll(nethttp.MaxBytesReader(w, r.Body, limit), r.ContentLength)
	if err != nil {
		closeUnread(w, r)
	}
	var tooBig *nethttp.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge(limit)
	case errors.As(err, &ne) && ne.Timeout():
		return nil, errorf(nethttp.StatusRequestTimeout, "Request body not received within %s", s.cfg.BodyTimeout)
	case err != nil:
		return nil, errorf(nethttp.StatusBadRequest, "Cannot read request body: %v", err)
	}
	return body, nil
}

// readAll reads rd to its end into a buffer of exactly size bytes when the
// size is announced (a bytes.Buffer would double itself for the last
// bytes), growing one otherwise.
func readAll(rd io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		var buf bytes.Buffer
		_, err := buf.ReadFrom(rd)
		return buf.Bytes(), err
	}
	body := make([]byte, size)
	n, err := io.ReadFull(rd, body)
	return body[:n], err
}

// releaseBody gives back a body slot. When the last body in flight is done
// after bodies worth more than freeAfterBytes were read, the memory they
// held is handed back to the system a second later (one pending hand-back
// at a time): otherwise a burst of large bodies would keep the process's
// RSS up until the runtime's next periodic collection, minutes later.
func (s *Server) releaseBody(n int) {
	s.bodyBytes.Add(int64(n))
	<-s.bodies
	if len(s.bodies) == 0 && s.bodyBytes.Load() > freeAfterBytes && s.freeing.CompareAndSwap(false, true) {
		s.bodyBytes.Store(0)
		time.AfterFunc(time.Second, func() {
			debug.FreeOSMemory()
			s.freeing.Store(false)
		})
	}
}

// freeAfterBytes is how much body memory makes releaseBody hand memory back.
const freeAfterBytes = 8 << 20

func tooLarge(limit int64) error {
	return errorf(nethttp.StatusRequestEntityTooLarge, "Request body too large: at most %d bytes", limit)
}
