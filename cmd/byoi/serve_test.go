package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// filesDir is a files dir with the names serve --check looks for.
func filesDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"vmlinuz", "initrd.img", "ipxe.efi", "undionly.kpxe"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serveArgs are the arguments of a serve on loopback with no DHCP, no
// TFTP and an HTTP port of its own.
func serveArgs(t *testing.T, state, files, httpAddr string) []string {
	return []string{"serve", "--interface", "lo", "--dhcp-mode", "off", "--tftp-listen", "", "--http-listen", httpAddr,
		"--state-dir", state, "--files-dir", files}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs `byoi serve` in this process until the test ends and
// waits until it answers HTTP.
func startServe(t *testing.T, args []string) *syncWriter {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncWriter{w: &strings.Builder{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"byoi"}, args...), &syncWriter{w: &strings.Builder{}}, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve ended with %v", err)
		}
	})
	addr := args[slicesIndex(args, "--http-listen")+1]
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/boot.ipxe")
		if err == nil {
			resp.Body.Close()
			return logs
		}
		if i == 100 {
			t.Fatalf("serve does not answer on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestServeAlreadyRunning(t *testing.T) {
	state, files := t.TempDir(), filesDir(t)
	logs := startServe(t, serveArgs(t, state, files, freeAddr(t)))
	if !strings.Contains(logs.String(), "byoi serving") || !strings.Contains(logs.String(), "version=dev") {
		t.Errorf("logs lack the serving line with the version:\n%s", logs)
	}
	var errOut bytes.Buffer
	err := run(context.Background(), append([]string{"byoi"}, serveArgs(t, state, files, freeAddr(t))...), &bytes.Buffer{}, &errOut)
	want := fmt.Sprintf("byoi is already running (pid %d) with the store %s", os.Getpid(), filepath.Join(state, storeFile))
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "timeout") {
		t.Errorf("second serve on the same state dir = %v, want %q", err, want)
	}
	// --check says the same without starting.
	_, _, err = runCLI(t, append(serveArgs(t, state, files, freeAddr(t)), "--check")...)
	if err == nil || !strings.Contains(err.Error(), "already running (pid") {
		t.Errorf("serve --check beside a running serve = %v", err)
	}
}

// TestServePortInUse: a port already taken fails the start before
// "serving" is logged.
func TestServePortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var errOut bytes.Buffer
	err = run(context.Background(), append([]string{"byoi"}, serveArgs(t, t.TempDir(), filesDir(t), l.Addr().String())...), &bytes.Buffer{}, &errOut)
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("serve on a taken port = %v", err)
	}
	if strings.Contains(errOut.String(), "serving") {
		t.Errorf("serving logged although the port was taken:\n%s", errOut.String())
	}
}

func TestServeConfigFile(t *testing.T) {
	files := filesDir(t)
	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "byoi.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := []string{"serve", "--check", "--interface", "lo", "--files-dir", files, "--state-dir", filepath.Join(t.TempDir(), "state")}
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       string // stdout substring, or error substring with "error: "
	}{
		{"good", "dhcp-mode: off\nhttp-listen: 127.0.0.1:9999\ninstaller-timeout: 20m\ndhcp-dns: [198.51.100.53, 198.51.100.54]\n", nil,
			"DHCP off, HTTP 127.0.0.1:9999 (machines use http://127.0.0.1:9999), TFTP :69"},
		{"known only", "dhcp-known-only: true\n", nil, "DHCP proxy (known machines only)"},
		{"environment wins", "http-listen: 127.0.0.1:9999\n", map[string]string{"BYOI_HTTP_LISTEN": "127.0.0.1:7777"}, "HTTP 127.0.0.1:7777"},
		{"unknown key", "dhcp-mode: off\nhtp-listen: :80\n", nil, `error: line 2: unknown key "htp-listen" (did you mean http-listen?)`},
		{"unknown key far from any", "colour: blue\n", nil, `error: line 1: unknown key "colour" (keys are the flag names of`},
		{"bad value", "installer-timeout: soon\n", nil, `error: line 1: installer-timeout: invalid value "soon": a duration such as 500ms, 2s or 1m30s is expected`},
		{"not a mapping", "- a\n- b\n", nil, "error: line 1: a mapping of flag names to values is expected"},
		{"bad yaml", "dhcp-mode: [off\n", nil, "error: --config "},
		{"empty", "", nil, "Configuration OK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			out, _, err := runCLI(t, append(base, "--config", write(tc.yaml))...)
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "inner error") {
					t.Errorf("serve --config (%s) = %v, want an error containing %q", tc.name, err, want)
				}
				return
			}
			if err != nil || !strings.Contains(out, tc.want) {
				t.Errorf("serve --check --config (%s) = %q, %v; want %q", tc.name, out, err, tc.want)
			}
		})
	}
	empty := t.TempDir()
	_, _, err := runCLI(t, "serve", "--check", "--interface", "lo", "--files-dir", empty)
	if err == nil || !strings.Contains(err.Error(), "files dir "+empty+" has no vmlinuz") {
		t.Errorf("serve --check with an empty files dir = %v", err)
	}
}
