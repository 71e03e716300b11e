package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// serveArgs are the flags of a `byoi serve` on loopback only: no DHCP, no
// TFTP, HTTP on a free port.
func tlsServeArgs(t *testing.T, state string, extra ...string) []string {
	t.Helper()
	return append([]string{"byoi", "serve", "--interface", "lo", "--address", "127.0.0.1", "--dhcp-mode", "off",
		"--tftp-listen", "", "--http-listen", "127.0.0.1:" + freePort(t), "--state-dir", state, "--files-dir", t.TempDir(),
		"--log-level", "debug"}, extra...)
}

func TestServeFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--tls-self-signed"}, "are for the HTTPS API listener: set --api-listen too"},
		{[]string{"--tls-cert", "a.pem"}, "are for the HTTPS API listener"},
		{[]string{"--api-listen", ":8443"}, "--api-listen serves HTTPS: give --tls-cert and --tls-key, or --tls-self-signed"},
		{[]string{"--api-listen", ":8443", "--tls-cert", "a.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--api-listen", ":8443", "--tls-cert", "a", "--tls-key", "b", "--tls-self-signed"}, "choose one"},
		{[]string{"--api-listen", "8443", "--tls-self-signed"}, `--api-listen "8443"`},
		{[]string{"--trusted-proxy", "10.0.0.0/33"}, `trusted proxy "10.0.0.0/33": not an address or CIDR prefix`},
		{[]string{"--api-listen", "127.0.0.1:1", "--tls-cert", "/nonexistent/a.pem", "--tls-key", "/nonexistent/b.pem"}, "--tls-cert/--tls-key: open /nonexistent/a.pem"},
		{[]string{"--datacenter", "gra\n1"}, `invalid datacenter "gra\n1"`},
	} {
		err := run(t.Context(), tlsServeArgs(t, t.TempDir(), tc.extra...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("byoi serve %s = %v, want an error containing %q", strings.Join(tc.extra, " "), err, tc.want)
		}
	}
}

// TestServeSplitTLS runs `byoi serve` with the operator APIs on an HTTPS
// listener with a self-signed certificate: the plain listener serves the
// boot plane only, the CLI trusts the state dir's certificate, and a
// restart keeps the same certificate.
func TestServeSplitTLS(t *testing.T) {
	state := t.TempDir()
	apiPort := freePort(t)
	args := tlsServeArgs(t, state, "--api-listen", "127.0.0.1:"+apiPort, "--tls-self-signed", "--tls-name", "byoi.lab.example")
	plain := "http://" + args[slicesIndex(args, "--http-listen")+1]
	apiURL := "https://127.0.0.1:" + apiPort
	stop := startServeStop(t, args)

	var certPEM []byte
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if certPEM, err = os.ReadFile(filepath.Join(state, selfSignedCert)); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no self-signed certificate: %v", err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitUp(t, hc, apiURL+"/1.0/auth/time")

	for _, tc := range []struct {
		url        string
		want       int
		bodyPrefix string
	}{
		{apiURL + "/1.0/auth/time", 200, ""},
		{apiURL + "/v1/auth/time", 200, ""},
		{plain + "/boot.ipxe", 200, "#!ipxe"},
		{plain + "/1.0/auth/time", 403, `{"class":"Client::Forbidden","message":"The API is not served over plain HTTP on this server: use ` + apiURL + `"}`},
		{plain + "/api/v1/machines", 403, `{"class":"Client::Forbidden"`},
		{plain + "/metrics", 403, `{"class":"Client::Forbidden"`},
		{plain + "/agent/v1/task", 401, ""},
	} {
		res, err := hc.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.want || !strings.HasPrefix(string(body), tc.bodyPrefix) || res.Header.Get("X-Ovh-QueryID") == "" {
			t.Errorf("GET %s = %d %q (query ID %q), want %d %q…", tc.url, res.StatusCode, body, res.Header.Get("X-Ovh-QueryID"), tc.want, tc.bodyPrefix)
		}
	}
	// The certificate covers the extra name.
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("no PEM block in %s", selfSignedCert)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.VerifyHostname("byoi.lab.example"); err != nil {
		t.Errorf("certificate does not cover --tls-name: %v", err)
	}

	// The CLI trusts the state dir's certificate by itself, over HTTPS.
	cli := []string{"--server", apiURL, "--state-dir", state}
	out, err := runClient(t, append([]string{"credentials", "create", "--kind", "ovh", "--name", "tf", "--rule", "GET /*", "--expires", "24h"}, cli...)...)
	if err != nil || !strings.Contains(out, "  allowed calls: GET /*\n") || !strings.Contains(out, "  expires: ") {
		t.Fatalf("credentials create over HTTPS = %q, %v", out, err)
	}
	out, err = runClient(t, append([]string{"keys", "rotate"}, cli...)...)
	if err != nil || out != "Server key version 2 is current; 1 secrets sealed again with it.\n" {
		t.Errorf("keys rotate = %q, %v", out, err)
	}
	out, err = runClient(t, append([]string{"keys", "list", "-o", "json"}, cli...)...)
	var vs []struct{ Version, Credentials int }
	if err != nil || json.Unmarshal([]byte(out), &vs) != nil || fmt.Sprint(vs) != "[{1 0} {2 1}]" {
		t.Errorf("keys list = %q, %v, want versions 1 (0 secrets) and 2 (1)", out, err)
	}
	if _, err := runClient(t, "credentials", "list", "--server", apiURL, "--state-dir", t.TempDir(), "--token", "x"); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("CLI without the certificate = %v, want a certificate error", err)
	}

	// A restart keeps the certificate and both key versions.
	stop()
	pem2Before := string(certPEM)
	stop = startServeStop(t, args)
	defer stop()
	waitUp(t, hc, apiURL+"/1.0/auth/time")
	pem2, _ := os.ReadFile(filepath.Join(state, selfSignedCert))
	if string(pem2) != pem2Before {
		t.Errorf("a restart made a new certificate")
	}
	keys, _ := os.ReadFile(filepath.Join(state, "server.key"))
	if !regexp.MustCompile(`(?m)^1 [0-9a-f]{64}\n2 [0-9a-f]{64}\n$`).MatchString(string(keys)) {
		t.Errorf("server.key after rotation = %q, want versions 1 and 2", keys)
	}
	if out, err := runClient(t, append([]string{"credentials", "list"}, cli...)...); err != nil || !strings.Contains(out, "GET /*") {
		t.Errorf("credentials list after restart = %q, %v", out, err)
	}
}

// startServeStop runs `byoi serve` until the returned stop is called.
func startServeStop(t *testing.T, args []string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, io.Discard, io.Discard) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("byoi serve = %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func waitUp(t *testing.T, hc *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := hc.Get(url)
		if err == nil {
			res.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
