package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/e2e/netns"
)

// rescueLab is a boot network for the rescue system without byoi serve: a
// namespace with br0 (198.51.100.1/24) and tap0, dnsmasq as DHCP server
// (the VM's MAC gets rescueIP), and a test server playing byoi's two
// rescue endpoints, bin/boot under /files/ and an iPXE script.
type rescueLab struct {
	t     *testing.T
	h     *Harness
	ns    *netns.NS
	dir   string
	token string
	key   string // private key file of the machine's rescue SSH key
	other string // private key file of a key byoi does not know
	pub   string

	script []byte // /rescue.ipxe

	mu      sync.Mutex
	ready   []agentapi.RescueReady
	readyCh chan struct{}
	calls   []string
	extra   []*exec.Cmd
}

const (
	rescueIP  = "198.51.100.10"
	rescueMAC = "52:54:00:12:34:70"
)

func newRescueLab(t *testing.T, h *Harness) *rescueLab {
	t.Helper()
	for _, p := range []string{"tools.img", "rescue.img"} {
		if _, err := os.Stat(filepath.Join(h.Boot, p)); err != nil {
			t.Fatalf("missing %s: run make build", filepath.Join(h.Boot, p))
		}
	}
	for _, tool := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("missing %s: run scripts/install-deps.sh test (openssh-client)", tool)
		}
	}
	tok := make([]byte, 32)
	rand.Read(tok)
	l := &rescueLab{t: t, h: h, dir: t.TempDir(), token: base64.RawURLEncoding.EncodeToString(tok), readyCh: make(chan struct{})}
	l.key, l.pub = l.keygen("rescue")
	l.other, _ = l.keygen("stranger")
	ns, err := netns.New("byoi-rescue")
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	l.ns = ns
	t.Cleanup(l.close)
	if err := ns.AddBridge("br0", ServerIP+"/24"); err != nil {
		t.Fatalf("bridge: %v", err)
	}
	if err := ns.AddTap("tap0", "br0"); err != nil {
		t.Fatalf("tap: %v", err)
	}
	l.startDHCP()
	l.startServer()
	return l
}

// keygen makes an Ed25519 key pair and returns the private key's file and
// the public key.
func (l *rescueLab) keygen(name string) (string, string) {
	p := filepath.Join(l.dir, name)
	if _, err := run(context.Background(), "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@e2e", "-f", p); err != nil {
		l.t.Fatal(err)
	}
	b, err := os.ReadFile(p + ".pub")
	if err != nil {
		l.t.Fatal(err)
	}
	return p, strings.TrimSpace(string(b))
}

func (l *rescueLab) startDHCP() {
	logf, err := os.Create(filepath.Join(l.h.Artifacts, l.t.Name()+".dnsmasq.log"))
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := l.ns.Command(context.Background(), "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0",
		"--interface=br0", "--bind-interfaces", "--dhcp-range=198.51.100.10,198.51.100.20,255.255.255.0,1h",
		"--dhcp-host="+rescueMAC+","+rescueIP, "--dhcp-leasefile="+filepath.Join(l.dir, "leases"), "--log-dhcp")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("dnsmasq: %v", err)
	}
	l.extra = append(l.extra, cmd)
}

// startServer listens on 198.51.100.1:8080 inside the namespace.
func (l *rescueLab) startServer() {
	var ln net.Listener
	if err := l.ns.Run(func() error {
		var err error
		ln, err = net.Listen("tcp", ServerIP+":"+httpPort)
		return err
	}); err != nil {
		l.t.Fatalf("listen: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /files/", http.StripPrefix("/files/", http.FileServer(http.Dir(l.h.Boot))))
	mux.HandleFunc("GET /rescue.ipxe", func(w http.ResponseWriter, r *http.Request) { w.Write(l.script) })
	mux.HandleFunc("GET "+agentapi.PathRescue, l.agent(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(agentapi.Rescue{Machine: "rescue-e2e", SSHKeys: []string{l.pub}})
	}))
	mux.HandleFunc("POST "+agentapi.PathRescueReady, l.agent(func(w http.ResponseWriter, r *http.Request) {
		var rr agentapi.RescueReady
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&rr); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		l.ready = append(l.ready, rr)
		if len(l.ready) == 1 {
			close(l.readyCh)
		}
		l.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	l.t.Cleanup(func() { _ = srv.Close() })
}

// agent checks the boot's token, as byoi does, and records the call.
func (l *rescueLab) agent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.calls = append(l.calls, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+l.token {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(agentapi.Error{Message: "invalid or expired token"})
			return
		}
		h(w, r)
	}
}

// waitReady returns the first ready report.
func (l *rescueLab) waitReady(vm *VM, timeout time.Duration) agentapi.RescueReady {
	l.t.Helper()
	select {
	case <-l.readyCh:
	case <-time.After(timeout):
		l.t.Fatalf("no ready report from the rescue system after %s (serial log %s)\n%s", timeout, vm.log, vm.tail(30))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ready[0]
}

// ssh runs a command on the rescue system as root with key, checking the
// host against known (a known_hosts file); it returns the combined output.
func (l *rescueLab) ssh(key, known string, command string, extra ...string) (string, error) {
	args := append([]string{"-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + known, "-o", "LogLevel=ERROR"}, extra...)
	args = append(args, "root@"+rescueIP, command)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := l.ns.Command(ctx, "ssh", args...).CombinedOutput()
	return string(out), err
}

// disk makes a sparse raw disk file; with gpt it gets an ESP of 64 MiB
// and a Linux partition on the rest.
func (l *rescueLab) disk(name string, size int64, gpt bool) string {
	p := filepath.Join(l.dir, name)
	if _, err := run(context.Background(), "truncate", "-s", fmt.Sprint(size), p); err != nil {
		l.t.Fatal(err)
	}
	if gpt {
		if _, err := run(context.Background(), "sgdisk", "-o", "-n", "1:2048:+64M", "-t", "1:ef00", "-c", "1:ESP",
			"-n", "2:0:0", "-t", "2:8300", "-c", "2:root", p); err != nil {
			l.t.Fatal(err)
		}
	}
	return p
}

// startQEMU runs QEMU in the namespace with the lab's NIC on tap0 and the
// given firmware/boot arguments and disks (virtio, in order).
func (l *rescueLab) startQEMU(name string, boot []string, disks ...string) *VM {
	l.t.Helper()
	args := []string{"netns", "exec", l.ns.Name(), "qemu-system-x86_64",
		"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "1", "-m", "1024",
		"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,mac=" + rescueMAC + ",romfile=",
	}
	for i, d := range disks {
		args = append(args, "-drive", fmt.Sprintf("if=none,id=d%d,format=raw,cache=unsafe,file=%s", i, d),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,bootindex=%d", i, i+1))
	}
	args = append(args, boot...)
	logPath := filepath.Join(l.h.Artifacts, name+".serial.log")
	lf, err := os.Create(logPath)
	if err != nil {
		l.t.Fatal(err)
	}
	cmd := exec.Command("ip", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	cmd.Stderr = lf
	vm := &VM{t: l.t, name: name, cmd: cmd, log: logPath, seen: make(chan struct{}), done: make(chan struct{})}
	vm.started = time.Now()
	if err := cmd.Start(); err != nil {
		l.t.Fatalf("start qemu: %v", err)
	}
	l.t.Logf("vm %s: qemu pid %d, serial log %s", name, cmd.Process.Pid, logPath)
	go vm.read(io.TeeReader(stdout, lf), lf)
	l.t.Cleanup(vm.Kill)
	return vm
}

func (l *rescueLab) close() {
	for _, c := range l.extra {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	_ = l.ns.Close()
}
