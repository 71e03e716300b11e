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
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/netns"
)

// Addresses of the lab network (198.51.100.0/24, inside our namespaces only).
const (
	ServerIP  = "198.51.100.1"
	LabDHCPIP = "198.51.100.2" // the lab's own DHCP server in the proxy flow
	httpPort  = "8080"
	imagePort = "8081"
	// imageAuth is what the image server requires; the reinstall carries it in httpHeaders.
	imageAuth = "Basic ZTJlOmltYWdlLXNlY3JldA==" // e2e:image-secret
)

// Lab is one isolated boot network: a namespace with bridge br0
// (198.51.100.1/24) and a tap for the VM, the real `byoi serve` in it, and an
// image server that requires an Authorization header.
type Lab struct {
	t      *testing.T
	h      *Harness
	NS     *netns.NS
	Tap    string
	State  string
	Files  string // what byoi serves to machines (bin/boot by default)
	Base   string // http://198.51.100.1:8080
	Images string // http://198.51.100.1:8081
	token  string
	client *http.Client
	srv    *exec.Cmd
	srvLog *os.File
	extra  []*exec.Cmd
}

// LabOptions configure a lab.
type LabOptions struct {
	DHCPMode string // full (default) or proxy
	// LabDHCP starts dnsmasq as the lab's plain DHCP server (no PXE options)
	// in a second namespace bridged to br0.
	LabDHCP bool
	// FilesDir replaces bin/boot as what byoi serves to machines (e.g. an
	// installer initramfs with the BYOLinux tools).
	FilesDir string
}

// NewLab builds the network, starts the image server and byoi.
func (h *Harness) NewLab(t *testing.T, o LabOptions) *Lab {
	t.Helper()
	if o.DHCPMode == "" {
		o.DHCPMode = "full"
	}
	ns, err := netns.New("byoi-e2e")
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	l := &Lab{t: t, h: h, NS: ns, Tap: "tap0", State: t.TempDir(), Files: o.FilesDir,
		Base: "http://" + ServerIP + ":" + httpPort, Images: "http://" + ServerIP + ":" + imagePort}
	if l.Files == "" {
		l.Files = h.Boot
	}
	t.Cleanup(l.close)
	if err := ns.AddBridge("br0", ServerIP+"/24"); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	if err := ns.AddTap(l.Tap, "br0"); err != nil {
		t.Fatalf("tap: %v", err)
	}
	l.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: l.dial}}
	l.startImageServer()
	if o.LabDHCP {
		l.startLabDHCP()
	}
	l.startByoi(o.DHCPMode)
	return l
}

// dial opens a TCP connection from inside the namespace.
func (l *Lab) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.NS.Run(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient returns a client whose connections originate in the lab.
func (l *Lab) HTTPClient() *http.Client { return l.client }

func (l *Lab) startImageServer() {
	var ln net.Listener
	if err := l.NS.Run(func() error {
		var err error
		ln, err = net.Listen("tcp", ServerIP+":"+imagePort)
		return err
	}); err != nil {
		l.t.Fatalf("image server listen: %v", err)
	}
	fix := l.h.Fixtures(l.t)
	files := http.FileServer(http.Dir(fix.Dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != imageAuth {
			http.Error(w, "authorization required", http.StatusUnauthorized)
			return
		}
		if rest, ok := strings.CutPrefix(r.URL.Path, "/slow/"); ok {
			// A slow mirror: the installer is still writing when the test resets the VM.
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + rest
			files.ServeHTTP(&slowWriter{ResponseWriter: w, rate: slowRate}, r2)
			return
		}
		files.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	l.t.Cleanup(func() { _ = srv.Close() })
}

func (l *Lab) startLabDHCP() {
	peer, err := netns.New("byoi-e2e-lab")
	if err != nil {
		l.t.Fatalf("lab netns: %v", err)
	}
	l.t.Cleanup(func() { _ = peer.Close() })
	// A veth pair: one end on br0, the other in the lab DHCP server's namespace.
	for _, args := range [][]string{
		{"link", "add", "labdhcp0", "type", "veth", "peer", "name", "eth0", "netns", peer.Name()},
		{"link", "set", "labdhcp0", "master", "br0", "up"},
	} {
		if err := l.NS.IP(args...); err != nil {
			l.t.Fatalf("veth: %v", err)
		}
	}
	for _, args := range [][]string{{"addr", "add", LabDHCPIP + "/24", "dev", "eth0"}, {"link", "set", "eth0", "up"}} {
		if err := peer.IP(args...); err != nil {
			l.t.Fatalf("veth peer: %v", err)
		}
	}
	logf, err := os.Create(filepath.Join(l.h.Artifacts, l.t.Name()+".dnsmasq.log"))
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := peer.Command(context.Background(), "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=eth0", "--bind-interfaces", "--dhcp-range=198.51.100.50,198.51.100.99,255.255.255.0,1h",
		"--dhcp-leasefile="+filepath.Join(l.State, "dnsmasq.leases"), "--log-dhcp")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("dnsmasq: %v", err)
	}
	l.extra = append(l.extra, cmd)
}

func (l *Lab) startByoi(mode string) {
	logPath := filepath.Join(l.h.Artifacts, strings.ReplaceAll(l.t.Name(), "/", "_")+".byoi.log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	l.srvLog = f
	args := []string{"serve",
		"--interface", "br0", "--address", ServerIP,
		"--dhcp-mode", mode, "--dhcp-pool-start", "198.51.100.100", "--dhcp-pool-end", "198.51.100.199",
		"--http-listen", ServerIP + ":" + httpPort,
		"--state-dir", l.State, "--files-dir", l.Files,
		"--kernel-args", "console=ttyS0",
	}
	cmd := l.NS.Command(context.Background(), l.h.Byoi, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("byoi serve: %v", err)
	}
	l.srv = cmd
	// Ready when the public time route answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := l.client.Get(l.Base + "/1.0/auth/time")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("byoi serve did not come up: %v (log %s)", err, logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tok, err := os.ReadFile(filepath.Join(l.State, "admin.token"))
	if err != nil {
		l.t.Fatalf("admin token: %v", err)
	}
	l.token = strings.TrimSpace(string(tok))
}

// slowRate is the bandwidth of the image server's /slow/ mirror, bytes/s.
const slowRate = 2 << 20

// slowWriter paces a response to about rate bytes per second.
type slowWriter struct {
	http.ResponseWriter
	rate int
}

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		chunk := min(len(b), s.rate/10)
		m, err := s.ResponseWriter.Write(b[:chunk])
		n += m
		if err != nil {
			return n, err
		}
		b = b[chunk:]
		time.Sleep(100 * time.Millisecond)
	}
	return n, nil
}

// RestartByoi stops and starts the server on the same state directory.
func (l *Lab) RestartByoi(mode string) {
	l.stopByoi()
	l.startByoi(mode)
}

func (l *Lab) stopByoi() {
	if l.srv == nil {
		return
	}
	_ = l.srv.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = l.srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = l.srv.Process.Kill()
		<-done
	}
	l.srv = nil
}

func (l *Lab) close() {
	l.stopByoi()
	for _, c := range l.extra {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	if l.srvLog != nil {
		l.srvLog.Close()
	}
	_ = l.NS.Close()
}

// API calls the native API with the admin token; out may be nil.
func (l *Lab) API(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, l.Base+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+l.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding %s: %w", method, path, b, err)
		}
	}
	return resp.StatusCode, nil
}

// MustAPI is API that fails the test on error.
func (l *Lab) MustAPI(method, path string, in, out any) {
	l.t.Helper()
	if _, err := l.API(method, path, in, out); err != nil {
		l.t.Fatal(err)
	}
}

// ServerLog returns the server's log so far.
func (l *Lab) ServerLog() string {
	b, _ := os.ReadFile(l.srvLog.Name())
	return string(b)
}

// waitCLI is a running `byoi wait NAME` inside the lab.
type waitCLI struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

// startWaitCLI runs the real CLI's `byoi wait` against the lab's server, so
// its progress output is driven by the real installer's reports.
func (l *Lab) startWaitCLI(name string) *waitCLI {
	w := &waitCLI{done: make(chan error, 1)}
	w.cmd = l.NS.Command(context.Background(), l.h.Byoi, "wait", name, "--server", l.Base, "--token", l.token)
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if err := w.cmd.Start(); err != nil {
		l.t.Fatalf("byoi wait: %v", err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	l.t.Cleanup(func() { _ = w.cmd.Process.Kill() })
	return w
}

// check waits for `byoi wait` to exit 0 and to have shown the write step.
func (w *waitCLI) check(t *testing.T) {
	t.Helper()
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("byoi wait: %v\n%s", err, w.out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("byoi wait did not exit after the task ended\n%s", w.out.String())
	}
	out := w.out.String()
	for _, want := range []string{"Writing image", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("byoi wait output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("byoi wait output:\n%s", out)
}
