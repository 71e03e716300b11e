// Package netns creates throw-away Linux network namespaces for tests, with
// the `ip` command of iproute2, and runs code or commands inside them.
//
// Every namespace gets a unique name (prefix, process id, counter) and is
// deleted by Close. Addresses handed to the helpers must lie in
// 198.51.100.0/24 (TEST-NET-2), the only range byoi's tests may use.
//
//	ns, err := netns.New("byoi-test")
//	if err != nil { … }
//	defer ns.Close()
//	_ = ns.AddBridge("br0", "198.51.100.1/24")
//	_ = ns.Run(func() error { conn, err = net.ListenPacket("udp4", ":67"); return err })
package netns

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
)

// TestNet is the only network tests may put addresses in.
var TestNet = &net.IPNet{IP: net.IPv4(198, 51, 100, 0).To4(), Mask: net.CIDRMask(24, 32)}

var counter atomic.Uint64

// NS is one named network namespace.
type NS struct {
	name   string
	mu     sync.Mutex
	closed bool
}

// New creates a namespace named prefix-PID-N and brings its loopback up.
func New(prefix string) (*NS, error) {
	if prefix == "" {
		prefix = "byoi"
	}
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), counter.Add(1))
	if err := ipCmd("netns", "add", name); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	ns := &NS{name: name}
	if err := ns.IP("link", "set", "lo", "up"); err != nil {
		_ = ns.Close()
		return nil, fmt.Errorf("namespace %s: loopback up: %w", name, err)
	}
	return ns, nil
}

// Name returns the namespace's name as `ip netns` knows it.
func (ns *NS) Name() string { return ns.name }

// Close deletes the namespace. Processes still running inside keep it alive
// until they exit; Close kills nothing. Calling Close again is a no-op.
func (ns *NS) Close() error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.closed {
		return nil
	}
	if err := ipCmd("netns", "delete", ns.name); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns.name, err)
	}
	ns.closed = true
	return nil
}

// Command returns a command that runs name with args inside the namespace
// (`ip netns exec NAME name args…`). The caller starts and stops it.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	full := append([]string{"netns", "exec", ns.name, name}, args...)
	return exec.CommandContext(ctx, "ip", full...)
}

// IP runs `ip -n NAME args…`.
func (ns *NS) IP(args ...string) error {
	return ipCmd(append([]string{"-n", ns.name}, args...)...)
}

// AddBridge creates bridge name, gives it cidr (skipped when empty) and
// brings it up.
func (ns *NS) AddBridge(name, cidr string) error {
	if err := checkCIDR(cidr); err != nil {
		return err
	}
	if err := ns.IP("link", "add", name, "type", "bridge"); err != nil {
		return fmt.Errorf("add bridge %s: %w", name, err)
	}
	if cidr != "" {
		if err := ns.IP("addr", "add", cidr, "dev", name); err != nil {
			return fmt.Errorf("address bridge %s: %w", name, err)
		}
	}
	if err := ns.IP("link", "set", name, "up"); err != nil {
		return fmt.Errorf("bring up bridge %s: %w", name, err)
	}
	return nil
}

// AddTap creates a persistent tap device (for QEMU's -netdev tap), enslaves
// it to bridge (skipped when empty) and brings it up.
func (ns *NS) AddTap(name, bridge string) error {
	if err := ns.IP("tuntap", "add", "dev", name, "mode", "tap"); err != nil {
		return fmt.Errorf("add tap %s: %w", name, err)
	}
	if bridge != "" {
		if err := ns.IP("link", "set", name, "master", bridge); err != nil {
			return fmt.Errorf("attach tap %s to %s: %w", name, bridge, err)
		}
	}
	if err := ns.IP("link", "set", name, "up"); err != nil {
		return fmt.Errorf("bring up tap %s: %w", name, err)
	}
	return nil
}

// Link creates a veth pair: ifA in ns with cidrA, ifB in other with cidrB.
// Empty addresses are skipped. Both ends are brought up.
func (ns *NS) Link(other *NS, ifA, cidrA, ifB, cidrB string) error {
	if err := checkCIDR(cidrA); err != nil {
		return err
	}
	if err := checkCIDR(cidrB); err != nil {
		return err
	}
	if err := ns.IP("link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", other.name); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", ifA, ifB, err)
	}
	for _, end := range []struct {
		ns       *NS
		ifc, adr string
	}{{ns, ifA, cidrA}, {other, ifB, cidrB}} {
		if end.adr != "" {
			if err := end.ns.IP("addr", "add", end.adr, "dev", end.ifc); err != nil {
				return fmt.Errorf("address %s in %s: %w", end.ifc, end.ns.name, err)
			}
		}
		if err := end.ns.IP("link", "set", end.ifc, "up"); err != nil {
			return fmt.Errorf("bring up %s in %s: %w", end.ifc, end.ns.name, err)
		}
	}
	return nil
}

// checkCIDR refuses addresses outside TestNet; empty is allowed.
func checkCIDR(cidr string) error {
	if cidr == "" {
		return nil
	}
	ip, _, err := net.ParseCIDR(cidr)
	if err != nil {
		return fmt.Errorf("invalid address %q: %w", cidr, err)
	}
	if !TestNet.Contains(ip) {
		return fmt.Errorf("address %s is outside %s, the only range tests may use", cidr, TestNet)
	}
	return nil
}

func ipCmd(args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
