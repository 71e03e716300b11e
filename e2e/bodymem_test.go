package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Slow bodies on the API: what a host on the boot network can make `byoi
// serve` hold before it knows who is asking. 256 connections each announce
// a body of 1 MiB, send all of it but the last byte, and stall: a quarter without credentials, a quarter with a wrong bearer
// token, a quarter with an unknown OVH application key, and a quarter with
// a real OVH application and consumer key but a wrong signature (the only
// ones whose bodies must be read: the signature covers the body).
//
// Measured: the server's RSS (VmRSS) idle, at its peak during the storm and
// after the connections closed. Bounds: peak ≤ idle + 64 MiB, and back to
// within 16 MiB of idle within 30 s of the last connection closing.
const (
	bodyConns     = 256
	bodySize      = 1<<20 - 1
	bodyPeakBound = 64 << 20
	bodyIdleSlack = 16 << 20
)

func TestSlowBodiesBoundedMemory(t *testing.T) {
	h := harness
	state := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logPath := filepath.Join(h.Artifacts, "slowbodies.byoi.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(h.Byoi, "serve", "--interface", "lo", "--address", "127.0.0.1", "--dhcp-mode", "off",
		"--tftp-listen", "", "--http-listen", addr, "--state-dir", state, "--files-dir", h.Boot, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + addr
	waitUp(t, base)
	tok, err := os.ReadFile(filepath.Join(state, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	var cred struct{ ApplicationKey, ConsumerKey string }
	req, _ := http.NewRequest("POST", base+"/api/v1/credentials", strings.NewReader(`{"kind":"ovh","name":"slow"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&cred); err != nil || cred.ApplicationKey == "" {
		t.Fatalf("create OVH credential: %v (%d)", err, resp.StatusCode)
	}
	resp.Body.Close()

	time.Sleep(2 * time.Second)
	idle := rss(t, cmd.Process.Pid)
	t.Logf("idle RSS %.1f MiB", mib(idle))

	headers := func(i int) string {
		switch i % 4 {
		case 0:
			return ""
		case 1:
			return "Authorization: Bearer byoi_not-a-real-token\r\n"
		case 2:
			return fmt.Sprintf("X-Ovh-Application: unknown-app\r\nX-Ovh-Consumer: x\r\nX-Ovh-Timestamp: %d\r\nX-Ovh-Signature: $1$%040d\r\n", time.Now().Unix(), 0)
		}
		return fmt.Sprintf("X-Ovh-Application: %s\r\nX-Ovh-Consumer: %s\r\nX-Ovh-Timestamp: %d\r\nX-Ovh-Signature: $1$%040d\r\n",
			cred.ApplicationKey, cred.ConsumerKey, time.Now().Unix(), 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var peak int64
	var peakMu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
				if v := rss(t, cmd.Process.Pid); v > 0 {
					peakMu.Lock()
					peak = max(peak, v)
					peakMu.Unlock()
				}
			}
		}
	}()
	var wg sync.WaitGroup
	statuses := make([]string, bodyConns)
	for i := range bodyConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every sender from its own loopback address, so that the
			// per-address limit on failed authentications does not hide
			// what the bodies cost.
			src := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i%250+1))}
			statuses[i] = slowPost(ctx, src, addr, "/1.0/dedicated/server/web-1/reinstall", headers(i), 5*time.Second)
		}()
	}
	wg.Wait()
	closed := time.Now()
	counts := map[string]int{}
	for i, s := range statuses {
		counts[fmt.Sprintf("%s/%d", s, i%4)]++
	}
	t.Logf("answers: %v", counts)

	// Back to idle after the connections closed.
	var after int64
	for time.Since(closed) < 30*time.Second {
		after = rss(t, cmd.Process.Pid)
		if after <= idle+bodyIdleSlack {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	close(stopSampling)
	<-sampled
	t.Logf("peak RSS %.1f MiB (+%.1f over idle), %.1f MiB %.0fs after the last connection closed",
		mib(peak), mib(peak-idle), mib(after), time.Since(closed).Seconds())
	if peak-idle > bodyPeakBound {
		t.Errorf("peak RSS %.1f MiB over idle under %d slow 1 MiB bodies, want at most %d MiB", mib(peak-idle), bodyConns, bodyPeakBound>>20)
	}
	if after > idle+bodyIdleSlack {
		t.Errorf("RSS %.1f MiB 30 s after the connections closed, idle was %.1f MiB", mib(after), mib(idle))
	}
	// The server still answers, and nothing was created.
	waitUp(t, base)
}

// slowPost announces a body of bodySize and sends all of it but its last
// byte over d (so that a server which reads it holds almost all of it),
// then waits; it returns the status line's code, or what ended the
// exchange.
func slowPost(ctx context.Context, src *net.TCPAddr, addr, path, headers string, d time.Duration) string {
	dialer := net.Dialer{LocalAddr: src}
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "dial error"
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n", path, addr, bodySize, headers)
	answer := make(chan string, 1)
	go func() {
		line, err := readStatusLine(c)
		if err != nil {
			answer <- "closed"
			return
		}
		answer <- line
	}()
	chunk := bytes.Repeat([]byte("a"), 4096)
	sent := 0
	deadline := time.Now().Add(d)
	interval := d / time.Duration(bodySize/len(chunk)+1)
	for sent < bodySize-1 && time.Now().Before(deadline) {
		select {
		case a := <-answer:
			return a
		case <-ctx.Done():
			return "timeout"
		case <-time.After(interval):
		}
		n := min(len(chunk), bodySize-1-sent)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(chunk[:n]); err != nil {
			break
		}
		sent += n
	}
	select {
	case a := <-answer:
		return a
	case <-time.After(30 * time.Second):
		return "no answer"
	}
}

func readStatusLine(r io.Reader) (string, error) {
	var b [12]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	f := strings.Fields(string(b[:]))
	if len(f) < 2 {
		return "", fmt.Errorf("bad status line %q", b)
	}
	return f[1], nil
}

func waitUp(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/1.0/auth/time")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("byoi serve at %s does not answer: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rss is the process's resident set size in bytes (0 if it is gone).
func rss(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	return 0
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
