package image

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLowatArms: once a read of a fast stream returned lowatFast bytes or
// more, a large read sets SO_RCVLOWAT to rcvLowat (as the kernel caps it),
// a small read sets it back to 1, and the bytes arrive whole and in order.
func TestLowatArms(t *testing.T) {
	const size = 64 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		for i := range size / len(buf) {
			for j := range buf {
				buf[j] = byte(i + j)
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := withLowat(raw)
	defer c.Close()
	lc, ok := c.(*lowatConn)
	if !ok {
		t.Fatalf("withLowat returned a %T", c)
	}
	lowat := func() int {
		t.Helper()
		var v int
		var gerr error
		if err := lc.rc.Control(func(fd uintptr) {
			v, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVLOWAT)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		return v
	}
	want := rcvLowat
	if f, err := os.ReadFile("/proc/sys/net/ipv4/tcp_rmem"); err == nil {
		if fs := strings.Fields(string(f)); len(fs) == 3 {
			if m, err := strconv.Atoi(fs[2]); err == nil {
				want = min(want, m/2)
			}
		}
	}
	buf := make([]byte, 1<<20)
	total, armed, small := 0, 0, 0
	for total < size {
		p := buf
		if total/(1<<20)%4 == 3 { // now and then, small reads
			p = buf[:4096]
		}
		wasFast := lc.fast
		n, err := c.Read(p)
		for i := range n {
			if buf[i] != byte((total+i)>>20+(total+i)&(1<<20-1)) {
				t.Fatalf("byte %d differs", total+i)
			}
		}
		total += n
		switch got := lowat(); {
		case len(p) < lowatMinRead:
			small++
			if got != 1 {
				t.Fatalf("after a %d-byte read SO_RCVLOWAT is %d, want 1", len(p), got)
			}
		case wasFast:
			armed++
			if got != want {
				t.Fatalf("after a large read of a fast stream SO_RCVLOWAT is %d, want %d", got, want)
			}
		}
		if err != nil {
			t.Fatalf("read at %d: %v", total, err)
		}
	}
	if armed == 0 || small == 0 {
		t.Fatalf("%d armed reads, %d small reads: the stream never counted as fast", armed, small)
	}
}

// TestLowatSmallResponseOnReusedConn: after a large body, the next
// response on the same connection, shorter than rcvLowat, is read at once:
// the header reads never wait for more than one byte. Over TLS too, whose
// reads are sized by its records, not by the caller.
func TestLowatSmallResponseOnReusedConn(t *testing.T) {
	big := bytes.Repeat([]byte("byoi"), 1<<20)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
			return
		}
		w.Write([]byte("small"))
	})
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			client := DefaultClient()
			var srv *httptest.Server
			if tls {
				srv = httptest.NewTLSServer(handler)
				client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			} else {
				srv = httptest.NewServer(handler)
			}
			defer srv.Close()
			for i := range 3 {
				body, _, _ := lowatGet(t, client, srv.URL+"/big")
				if !bytes.Equal(body, big) {
					t.Fatalf("round %d: big body differs (%d bytes)", i, len(body))
				}
				body, reused, took := lowatGet(t, client, srv.URL+"/small")
				if string(body) != "small" {
					t.Fatalf("round %d: small body %q", i, body)
				}
				if !reused {
					t.Fatalf("round %d: the small request did not reuse the connection: nothing tested", i)
				}
				if took >= lowatWait/2 {
					t.Errorf("round %d: a 5-byte response on the reused connection took %v (lowatWait %v)", i, took, lowatWait)
				}
			}
		})
	}
}

// lowatGet reads url's body with 1 MiB reads; it returns the body, whether
// the connection was reused, and how long it took.
func lowatGet(t *testing.T, client *http.Client, url string) ([]byte, bool, time.Duration) {
	t.Helper()
	var reused bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	buf := make([]byte, 1<<20)
	for {
		n, err := resp.Body.Read(buf)
		out.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes(), reused, time.Since(t0)
}

// TestLowatSlowAfterFast: a stream that slows down after a fast start is
// not held back: a read waits at most lowatWait for the bytes it was
// promised, then returns what came.
func TestLowatSlowAfterFast(t *testing.T) {
	const (
		fast    = 4 << 20
		drips   = 100
		drip    = 2000 // 200 kB in all: more than a large read
		dripGap = 10 * time.Millisecond
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(fast+drips*drip))
		w.Write(make([]byte, fast))
		w.(http.Flusher).Flush()
		for range drips {
			time.Sleep(dripGap)
			w.Write(make([]byte, drip))
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	resp, err := DefaultClient().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1<<20)
	total := 0
	var worst time.Duration
	last := time.Now()
	for {
		n, err := resp.Body.Read(buf)
		total += n
		if now := time.Now(); total > fast && now.Sub(last) > worst {
			worst = now.Sub(last)
		}
		last = time.Now()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if total != fast+drips*drip {
		t.Fatalf("read %d bytes, want %d", total, fast+drips*drip)
	}
	// The drips take a second; a read that waited for rcvLowat bytes (or
	// for the rest of the body) would see a gap of most of it.
	if limit := lowatWait + 150*time.Millisecond; worst > limit {
		t.Errorf("longest wait for data after the fast start %v, want at most %v", worst, limit)
	}
}

// TestLowatOffForTLS: a connection whose client writes a TLS record never
// waits for a low-water mark; one that writes an HTTP request does.
func TestLowatOffForTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c)
		}
	}()
	for _, tc := range []struct {
		first   string
		wantTLS bool
	}{
		{"GET /image.raw HTTP/1.1\r\n", false},
		{"CONNECT images.example:443 HTTP/1.1\r\n", false},
		{"\x16\x03\x01\x02\x00", true}, // a ClientHello
	} {
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		lc := withLowat(raw).(*lowatConn)
		if _, err := lc.Write([]byte(tc.first)); err != nil {
			t.Fatal(err)
		}
		if got := lc.tls.Load(); got != tc.wantTLS {
			t.Errorf("after writing %q: tls %v, want %v", tc.first, got, tc.wantTLS)
		}
		lc.Close()
	}
}
