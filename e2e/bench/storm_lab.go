package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/byoi/byoi/e2e/netns"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/byoi/byoi/store"
)

// Addresses of the storm network. They lie in 198.18.0.0/15, the range
// reserved for benchmarks (RFC 2544), so that a storm of 1000 clients does
// not measure address exhaustion (a /24 holds 241 pool addresses). They
// exist only on the veth pair between the two namespaces the bench makes:
// no route, no other interface, nothing leaves.
const (
	stormServer   = "198.18.0.1"
	stormClientIP = "198.18.0.2"
	stormPrefix   = "/15"
	poolStart     = "198.18.1.1"
	poolEnd       = "198.19.255.254"
	scriptURL     = "http://" + stormServer + ":8080/boot.ipxe"
)

// benchNet is the only range the storm lab puts addresses in.
var benchNet = &net.IPNet{IP: net.IPv4(198, 18, 0, 0).To4(), Mask: net.CIDRMask(15, 32)}

// stormLab is two namespaces joined by a veth pair: the server side (byoi
// or dnsmasq) and the clients' side (this binary, -role storm).
type stormLab struct {
	c        *config
	srv, cli *netns.NS
	self     string
	boot     string // bin/boot
	size     int64  // of ipxe.efi
	logs     string // every run's server logs and client timelines
}

func newStormLab(c *config) (*stormLab, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	l := &stormLab{c: c, self: self, boot: filepath.Join(c.root, "bin", "boot"), logs: filepath.Join(c.out, "p4-logs")}
	st, err := os.Stat(filepath.Join(l.boot, "ipxe.efi"))
	if err != nil {
		return nil, fmt.Errorf("bin/boot/ipxe.efi (run make build): %w", err)
	}
	l.size = st.Size()
	if err := os.MkdirAll(l.logs, 0o755); err != nil {
		return nil, err
	}
	if l.srv, err = netns.New("byoi-bench-srv"); err != nil {
		return nil, err
	}
	if l.cli, err = netns.New("byoi-bench-cli"); err != nil {
		l.close()
		return nil, err
	}
	// netns.Link only takes 198.51.100.0/24 addresses: link without any,
	// then address both ends from benchNet here.
	if err := l.srv.Link(l.cli, "s0", "", "c0", ""); err != nil {
		l.close()
		return nil, err
	}
	for _, end := range []struct {
		ns      *netns.NS
		ifc, ip string
	}{{l.srv, "s0", stormServer}, {l.cli, "c0", stormClientIP}} {
		if !benchNet.Contains(net.ParseIP(end.ip)) {
			l.close()
			return nil, fmt.Errorf("storm address %s is outside %s", end.ip, benchNet)
		}
		if err := end.ns.IP("addr", "add", end.ip+stormPrefix, "dev", end.ifc); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

func (l *stormLab) close() {
	for _, ns := range []*netns.NS{l.cli, l.srv} {
		if ns != nil {
			if err := ns.Close(); err != nil {
				logf("%v", err)
			}
		}
	}
}

// storm starts the servers of who, runs the storm client with args and
// stops the servers. The servers' logs and the client's timeline of its
// slowest clients go to l.logs, named after run (e.g. "storm-n500-r2").
func (l *stormLab) storm(ctx context.Context, who, dnsmasq, run string, args []string) (stormResult, error) {
	state, err := os.MkdirTemp("", "byoi-bench-state-")
	if err != nil {
		return stormResult{}, err
	}
	defer os.RemoveAll(state)
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			stop(p)
		}
	}()
	start := func(log string, name string, argv ...string) error {
		cmd := l.srv.Command(ctx, name, argv...)
		f, err := os.Create(filepath.Join(l.logs, run+"-"+log))
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		procs = append(procs, cmd)
		return nil
	}
	switch who {
	case "byoi":
		err = start("byoi.log", filepath.Join(l.c.root, "bin", "byoi"), "serve", "--dhcp-mode", "full",
			"--interface", "s0", "--address", stormServer, "--dhcp-pool-start", poolStart, "--dhcp-pool-end", poolEnd,
			"--http-listen", stormServer+":8080", "--tftp-listen", stormServer+":69", "--state-dir", state,
			"--files-dir", l.boot)
	case "dnsmasq":
		script := filepath.Join(state, "www")
		if err = writeScript(script); err == nil {
			err = start("static-http.log", l.self, "-role", "static-http", stormServer+":8080", script)
		}
		if err == nil {
			err = start("dnsmasq.log", dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
				"--interface=s0", "--bind-interfaces", "--dhcp-range="+poolStart+","+poolEnd+",1h",
				"--dhcp-boot=ipxe.efi", "--dhcp-authoritative", "--no-ping",
				"--dhcp-leasefile="+filepath.Join(state, "leases"), "--pid-file="+filepath.Join(state, "pid"),
				"--enable-tftp", "--tftp-root="+l.boot, "--tftp-max=2000", "--user=root", "--log-facility=-")
		}
	}
	if err != nil {
		return stormResult{}, err
	}
	time.Sleep(300 * time.Millisecond) // DHCP and TFTP sockets up; HTTP is polled
	cmd := l.cli.Command(ctx, l.self, append([]string{"-role", "storm", "--"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return stormResult{}, fmt.Errorf("storm client: %w", err)
	}
	var r stormResult
	if err := json.Unmarshal(out, &r); err != nil {
		return stormResult{}, fmt.Errorf("storm client output %q: %w", out, err)
	}
	for _, p := range procs { // stopped now to read their CPU time
		stop(p)
		r.ServerCPU += (p.ProcessState.UserTime() + p.ProcessState.SystemTime()).Seconds()
	}
	procs = nil
	if err := writeTrace(filepath.Join(l.logs, run+"-"+who+"-clients.json"), r); err != nil {
		return r, err
	}
	return r, nil
}

// stop ends a server process (by its PID) and waits for it.
func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// writeScript puts byoi's own /boot.ipxe, rendered for the storm's base
// URL, into dir for the static server that stands beside dnsmasq.
func writeScript(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(dir, "..", "render.db"), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := byoihttp.New(byoihttp.Config{BaseURL: "http://" + stormServer + ":8080"}, st)
	if err != nil {
		return err
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, scriptURL, nil))
	if rec.Code != http.StatusOK {
		return fmt.Errorf("render /boot.ipxe: status %d", rec.Code)
	}
	return os.WriteFile(filepath.Join(dir, "boot.ipxe"), rec.Body.Bytes(), 0o644)
}

// roleStaticHTTP serves a directory: the "trivial static HTTP server" a
// dnsmasq user adds for the iPXE script.
func roleStaticHTTP(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: -role static-http ADDR DIR")
	}
	ln, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(args[1]))}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
