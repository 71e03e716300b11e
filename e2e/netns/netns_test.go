package netns

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestCheckCIDR(t *testing.T) {
	tests := []struct {
		name    string
		cidr    string
		wantErr bool
	}{
		{"empty", "", false},
		{"test net", "198.51.100.1/24", false},
		{"test net host", "198.51.100.254/32", false},
		{"private", "10.0.0.1/24", true},
		{"neighbour test net", "198.51.101.1/24", true},
		{"garbage", "nope", true},
		{"no prefix", "198.51.100.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCIDR(tt.cidr)
			if (err != nil) != tt.wantErr {
				t.Errorf("checkCIDR(%q) = %v, want error %v", tt.cidr, err, tt.wantErr)
			}
		})
	}
}

func TestNewRunClose(t *testing.T) {
	Require(t)
	ns, err := New("byoi-netns-test")
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer ns.Close()
	if !strings.HasPrefix(ns.Name(), "byoi-netns-test-") {
		t.Errorf("Name() = %q, want prefix byoi-netns-test-", ns.Name())
	}
	before, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.AddBridge("br0", "198.51.100.1/24"); err != nil {
		t.Fatalf("AddBridge() = %v", err)
	}
	if err := ns.AddTap("tap0", "br0"); err != nil {
		t.Fatalf("AddTap() = %v", err)
	}
	// Inside: lo, br0, tap0 and nothing from the host.
	var names []string
	if err := ns.Run(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	}); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if got, want := strings.Join(names, ","), "lo,br0,tap0"; got != want {
		t.Errorf("interfaces in namespace = %s, want %s", got, want)
	}
	// Outside again: this goroutine's view is still the host's.
	after, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(after), len(before); got != want {
		t.Errorf("host has %d interfaces after Run, want %d as before", got, want)
	}
	if err := ns.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := ns.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := os.Stat("/run/netns/" + ns.Name()); !os.IsNotExist(err) {
		t.Errorf("after Close, /run/netns/%s: %v, want not exist", ns.Name(), err)
	}
}

func TestLinkAndCommand(t *testing.T) {
	Require(t)
	a, err := New("byoi-netns-a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New("byoi-netns-b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Link(b, "va", "198.51.100.10/24", "vb", "198.51.100.11/24"); err != nil {
		t.Fatalf("Link() = %v", err)
	}
	// A UDP datagram from a socket in b reaches a socket in a.
	var server, client net.PacketConn
	if err := a.Run(func() (err error) { server, err = net.ListenPacket("udp4", "198.51.100.10:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := b.Run(func() (err error) { client, err = net.ListenPacket("udp4", "198.51.100.11:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.WriteTo([]byte("ping"), server.LocalAddr()); err != nil {
		t.Fatalf("WriteTo() = %v", err)
	}
	buf := make([]byte, 16)
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := server.ReadFrom(buf)
	if err != nil {
		t.Fatalf("ReadFrom() = %v", err)
	}
	if got := string(buf[:n]); got != "ping" {
		t.Errorf("received %q, want ping", got)
	}
	if got := from.(*net.UDPAddr).IP.String(); got != "198.51.100.11" {
		t.Errorf("sender = %s, want 198.51.100.11", got)
	}
	// Command runs inside b: it sees vb.
	out, err := b.Command(context.Background(), "ip", "-o", "addr", "show", "dev", "vb").CombinedOutput()
	if err != nil {
		t.Fatalf("Command(ip addr) = %v: %s", err, out)
	}
	if !strings.Contains(string(out), "198.51.100.11/24") {
		t.Errorf("ip addr in b = %q, want 198.51.100.11/24", out)
	}
	if err := a.Link(b, "vx", "10.1.2.3/24", "vy", ""); err == nil {
		t.Errorf("Link() with 10.1.2.3/24 = nil, want refusal")
	}
}
