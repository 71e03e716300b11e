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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/byoi/byoi/e2e/netns"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/byoi/byoi/store"
)

// Addresses of the storm network, inside namespaces the bench makes.
const (
	stormServer   = "198.51.100.1"
	stormClientIP = "198.51.100.2"
	poolStart     = "198.51.100.10"
	poolEnd       = "198.51.100.250"
	scriptURL     = "http://" + stormServer + ":8080/boot.ipxe"
)

// stormLab is two namespaces joined by a veth pair: the server side (byoi
// or dnsmasq) and the clients' side (this binary, -role storm).
type stormLab struct {
	c        *config
	srv, cli *netns.NS
	self     string
	boot     string // bin/boot
	size     int64  // of ipxe.efi
	logs     string
}

// benchStorm is P4: a PXE boot storm against byoi and against dnsmasq
// (DHCP + TFTP) with a static HTTP server for the script, then TFTP alone.
func benchStorm(ctx context.Context, c *config, rep *report) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		return fmt.Errorf("dnsmasq is not installed: %w", err)
	}
	lab, err := newStormLab(c)
	if err != nil {
		return err
	}
	defer lab.close()
	rep.note("P4: server and clients in two network namespaces joined by a veth pair (198.51.100.0/24); simulated UEFI x86-64 clients (options 60, 93) share one port-68 socket and fetch ipxe.efi as EDK2's PXE does (blksize 1468, tsize, windowsize 4: PcdPxeTftpWindowSize; a server that ignores windowsize, like dnsmasq 2.90, serves them lock step); DHCP retransmits after 1, 2, 4, 8, 16 s; each client releases its lease after the GET because a /24 holds fewer addresses (241) than the 500-client storm; dnsmasq runs with --no-ping (its conflict ping would delay every offer) and --tftp-max=1000 (its default of 50 would refuse most of the storm); logging is off (byoi --log-level warn, dnsmasq --quiet-dhcp); every storm and TFTP-only run is run twice per server, alternating who goes first, keeping each server's best")
	ns := []int{50, 200, 500}
	if c.quick {
		ns = []int{20, 50}
	}
	for _, n := range ns {
		b, d, err := lab.pair(ctx, dnsmasq, 2, "-n", strconv.Itoa(n), "-url", scriptURL, "-size", strconv.FormatInt(lab.size, 10))
		if err != nil {
			return fmt.Errorf("storm of %d: %w", n, err)
		}
		rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d (failures: byoi %d, dnsmasq %d; windowsize granted: byoi %s, dnsmasq %s)", n, b.Failures, d.Failures, granted(b), granted(d)),
			Metric: "booted/s", Byoi: b.rate(), Ref: d.rate(), RefName: "dnsmasq", Target: 1.5,
			Failures: b.Failures,
			Extra: map[string]float64{"byoiSeconds": b.Seconds, "refSeconds": d.Seconds, "byoiP50": b.P50, "byoiP99": b.P99,
				"refP50": d.P50, "refP99": d.P99, "byoiFailures": float64(b.Failures), "refFailures": float64(d.Failures),
				"byoiDHCPP50": b.DHCPP50, "refDHCPP50": d.DHCPP50, "byoiTFTPP50": b.TFTPP50, "refTFTPP50": d.TFTPP50,
				"byoiHTTPP50": b.HTTPP50, "refHTTPP50": d.HTTPP50},
			Note: reasons(b, d)})
		rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d per-client p50", n), Metric: "s", Byoi: b.P50, Ref: d.P50, RefName: "dnsmasq"})
		rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d per-client p99", n), Metric: "s", Byoi: b.P99, Ref: d.P99, RefName: "dnsmasq"})
		for _, ph := range []struct {
			name string
			b, d float64
		}{{"DHCP DISCOVER→ACK", b.DHCPP50, d.DHCPP50}, {"TFTP ipxe.efi", b.TFTPP50, d.TFTPP50}, {"HTTP GET script", b.HTTPP50, d.HTTPP50}} {
			rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d %s p50", n, ph.name), Metric: "s", Byoi: ph.b, Ref: ph.d, RefName: "dnsmasq"})
		}
	}
	for _, tc := range []struct{ blksize, window int }{{512, 1}, {1468, 1}, {1468, 4}, {1468, 16}} {
		b, d, err := lab.pair(ctx, dnsmasq, 2, "-tftp-only", "-n", "20", "-blksize", strconv.Itoa(tc.blksize),
			"-windowsize", strconv.Itoa(tc.window), "-url", scriptURL, "-size", strconv.FormatInt(lab.size, 10))
		if err != nil {
			return fmt.Errorf("tftp: %w", err)
		}
		mb := float64(20*lab.size) / mib
		name := fmt.Sprintf("TFTP 20× ipxe.efi, blksize %d", tc.blksize)
		if tc.window > 1 {
			name += fmt.Sprintf(" windowsize %d (granted: byoi %s, dnsmasq %s)", tc.window, granted(b), granted(d))
		}
		rep.add(Row{Part: "P4", Case: fmt.Sprintf("%s (failures: byoi %d, dnsmasq %d)", name, b.Failures, d.Failures),
			Metric: "MiB/s", Byoi: mb / b.Seconds, Ref: mb / d.Seconds, RefName: "dnsmasq", Failures: b.Failures,
			Extra: map[string]float64{"byoiP50": b.P50, "refP50": d.P50}, Note: reasons(b, d)})
	}
	return nil
}

// pair runs the storm client with args against byoi and against dnsmasq,
// rounds times, alternating who goes first, and keeps each side's run with
// the most clients served per second.
func (l *stormLab) pair(ctx context.Context, dnsmasq string, rounds int, args ...string) (b, d stormResult, err error) {
	best := map[string]stormResult{}
	for i := range rounds {
		order := []string{"byoi", "dnsmasq"}
		if i%2 == 1 {
			order = []string{"dnsmasq", "byoi"}
		}
		for _, who := range order {
			r, err := l.storm(ctx, who, dnsmasq, args)
			if err != nil {
				return b, d, fmt.Errorf("%s: %w", who, err)
			}
			if prev, ok := best[who]; !ok || r.rate() > prev.rate() {
				best[who] = r
			}
		}
	}
	return best["byoi"], best["dnsmasq"], nil
}

// rate is the clients served per second.
func (r stormResult) rate() float64 { return float64(r.Clients-r.Failures) / r.Seconds }

// granted names the windowsizes a run's servers granted, e.g. "4" or "1".
func granted(r stormResult) string {
	var ws []string
	for w := range r.Windows {
		ws = append(ws, strconv.Itoa(w))
	}
	slices.Sort(ws)
	if len(ws) == 0 {
		return "-"
	}
	return strings.Join(ws, "/")
}

func reasons(b, d stormResult) string {
	if len(b.Reasons) == 0 && len(d.Reasons) == 0 {
		return ""
	}
	j, _ := json.Marshal(map[string]any{"byoi": b.Reasons, "dnsmasq": d.Reasons})
	return string(j)
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
	if err := l.srv.Link(l.cli, "s0", stormServer+"/24", "c0", stormClientIP+"/24"); err != nil {
		l.close()
		return nil, err
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
// stops the servers.
func (l *stormLab) storm(ctx context.Context, who, dnsmasq string, args []string) (stormResult, error) {
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
		f, err := os.Create(filepath.Join(l.logs, log))
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
			"--files-dir", l.boot, "--log-level", "warn")
	case "dnsmasq":
		script := filepath.Join(state, "www")
		if err = writeScript(script); err == nil {
			err = start("static-http.log", l.self, "-role", "static-http", stormServer+":8080", script)
		}
		if err == nil {
			err = start("dnsmasq.log", dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
				"--interface=s0", "--bind-interfaces", "--dhcp-range="+poolStart+","+poolEnd+",1h",
				"--dhcp-boot=ipxe.efi", "--dhcp-authoritative", "--no-ping", "--quiet-dhcp",
				"--dhcp-leasefile="+filepath.Join(state, "leases"), "--pid-file="+filepath.Join(state, "pid"),
				"--enable-tftp", "--tftp-root="+l.boot, "--tftp-max=1000", "--user=root", "--log-facility=-")
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
