package http

import (
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingBody counts the bytes a handler read from a request body.
type countingBody struct {
	r io.Reader
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

// TestBodyNotReadBeforeCredentials: a request without a credential that may
// make the call is answered from its headers; not one byte of its body is
// read, and the connection is closed after the answer.
func TestBodyNotReadBeforeCredentials(t *testing.T) {
	e := newEnv(t)
	for _, auth := range []string{"", "Bearer wrong", "Bearer forbidden"} {
		body := &countingBody{r: strings.NewReader(`{"serviceName":"web-1"}`)}
		req := newRequest("POST", "/api/v1/machines", auth, body)
		req.ContentLength = 23
		w := serve(e, req)
		if w.Code != 401 && w.Code != 403 {
			t.Errorf("POST with auth %q = %d, want 401 or 403", auth, w.Code)
		}
		if n := body.n.Load(); n != 0 {
			t.Errorf("POST with auth %q read %d body bytes before refusing, want none", auth, n)
		}
		if got := w.Header().Get("Connection"); got != "close" {
			t.Errorf("POST with auth %q: Connection %q, want close (the body is left unread)", auth, got)
		}
	}
	if len(e.auth.bodies) != 0 {
		t.Errorf("Authenticate saw %d bodies of refused requests, want none", len(e.auth.bodies))
	}
}

// TestBodySlots: with every body slot taken, a further body waits and then
// gets 503; an announced body over the limit gets 413 at once.
func TestBodySlots(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BodiesInFlight = 1; c.BodyTimeout = 300 * time.Millisecond })
	e.srv.bodies <- struct{}{} // the one slot is busy
	start := time.Now()
	w := e.do("POST", "/api/v1/machines", "Bearer good", `{"serviceName":"web-1"}`)
	if w.Code != 503 || time.Since(start) < 300*time.Millisecond {
		t.Errorf("POST with no free body slot = %d after %v, want 503 after the 300ms wait", w.Code, time.Since(start))
	}
	<-e.srv.bodies
	if w := e.do("POST", "/api/v1/machines", "Bearer good", `{"serviceName":"web-1"}`); w.Code != 201 {
		t.Errorf("POST with the slot free = %d %s, want 201", w.Code, w.Body.String())
	}
	req := newRequest("POST", "/api/v1/machines", "Bearer good", &countingBody{r: strings.NewReader("{}")})
	req.ContentLength = DefaultMaxBodyBytes + 1
	if w := serve(e, req); w.Code != 413 {
		t.Errorf("POST announcing %d bytes = %d, want 413", req.ContentLength, w.Code)
	}
}

// TestBodyDeadline: over a real connection, a body that stops arriving is
// cut off at BodyTimeout and the connection closed, for an API route and
// for a public route that never reads its body.
func TestBodyDeadline(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BodyTimeout = 500 * time.Millisecond })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(t.Context(), l)
	for _, path := range []string{"/api/v1/machines", "/boot.ipxe"} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		method := "POST"
		if path == "/boot.ipxe" {
			method = "GET"
		}
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nContent-Length: 100\r\n\r\n{\"serv", method, path)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		_, err = io.ReadAll(c) // the answer if any, then the close
		c.Close()
		if err != nil || time.Since(start) > 3*time.Second {
			t.Errorf("%s %s with a stalled body: connection still open after %v (%v), want it closed after the 500ms deadline", method, path, time.Since(start), err)
		}
	}
}

func newRequest(method, path, auth string, body io.ReadCloser) *nethttp.Request {
	req := httptest.NewRequest(method, path, nil)
	req.Body = body
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}

func serve(e *env, req *nethttp.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, req)
	return w
}
