package dhcp

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/byoi/byoi/boot"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{"defaults", Config{ServerIP: serverIP}, "", func(t *testing.T, c Config) {
			if c.Mode != ModeProxy || c.BaseURL != "http://198.51.100.1" || c.LeaseTime != time.Hour {
				t.Errorf("defaults = mode %q, base %q, lease %v; want proxy, http://198.51.100.1, 1h", c.Mode, c.BaseURL, c.LeaseTime)
			}
		}},
		{"full default pool", Config{Mode: ModeFull, ServerIP: serverIP}, "", func(t *testing.T, c Config) {
			if c.PoolStart.String() != "198.51.100.128" || c.PoolEnd.String() != "198.51.100.254" {
				t.Errorf("default pool = %v-%v, want 198.51.100.128-198.51.100.254", c.PoolStart, c.PoolEnd)
			}
		}},
		{"trailing slash", Config{ServerIP: serverIP, BaseURL: "http://198.51.100.1:8080/"}, "", func(t *testing.T, c Config) {
			if c.BaseURL != "http://198.51.100.1:8080" {
				t.Errorf("BaseURL = %q, want no trailing slash", c.BaseURL)
			}
		}},
		{"off needs nothing", Config{Mode: ModeOff}, "", nil},
		{"bad mode", Config{Mode: "relay", ServerIP: serverIP}, "invalid dhcp mode", nil},
		{"no server ip", Config{Mode: ModeProxy}, "need the IPv4 address", nil},
		{"ipv6 server", Config{ServerIP: net.ParseIP("2001:db8::1")}, "need the IPv4 address", nil},
		{"bad base url", Config{ServerIP: serverIP, BaseURL: "tftp://x"}, "must start with http", nil},
		{"pool outside subnet", Config{Mode: ModeFull, ServerIP: serverIP, PoolStart: net.IPv4(198, 51, 101, 1), PoolEnd: net.IPv4(198, 51, 101, 9)}, "outside the server's subnet", nil},
		{"pool reversed", Config{Mode: ModeFull, ServerIP: serverIP, PoolStart: net.IPv4(198, 51, 100, 9), PoolEnd: net.IPv4(198, 51, 100, 1)}, "start is after end", nil},
		{"half a pool", Config{Mode: ModeFull, ServerIP: serverIP, PoolStart: net.IPv4(198, 51, 100, 9)}, "need both", nil},
		{"bad netmask", Config{ServerIP: serverIP, Netmask: net.CIDRMask(32, 32)}, "invalid netmask", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
	if _, err := New(Config{Mode: ModeFull, ServerIP: serverIP}, nil); err == nil {
		t.Errorf("New(full mode, nil store) = nil error, want refusal")
	}
}

func TestDestination(t *testing.T) {
	client := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 57), Port: 4011}
	tests := []struct {
		name  string
		req   func(*dhcpv4.DHCPv4)
		reply dhcpv4.MessageType
		peer  net.Addr
		port  int
		want  string
	}{
		{"pxe port answers the sender", nil, dhcpv4.MessageTypeAck, client, PortPXE, "198.51.100.57:4011"},
		{"relay", func(d *dhcpv4.DHCPv4) { d.GatewayIPAddr = net.IPv4(198, 51, 100, 254) }, dhcpv4.MessageTypeOffer,
			&net.UDPAddr{IP: net.IPv4(198, 51, 100, 254), Port: 67}, PortDHCP, "198.51.100.254:67"},
		{"renewing client", func(d *dhcpv4.DHCPv4) { d.ClientIPAddr = net.IPv4(198, 51, 100, 120) }, dhcpv4.MessageTypeAck,
			&net.UDPAddr{IP: net.IPv4(198, 51, 100, 120), Port: 68}, PortDHCP, "198.51.100.120:68"},
		{"nak to renewing client is broadcast", func(d *dhcpv4.DHCPv4) { d.ClientIPAddr = net.IPv4(198, 51, 100, 120) }, dhcpv4.MessageTypeNak,
			&net.UDPAddr{IP: net.IPv4(198, 51, 100, 120), Port: 68}, PortDHCP, "255.255.255.255:68"},
		{"unconfigured client", nil, dhcpv4.MessageTypeOffer, &net.UDPAddr{IP: net.IPv4zero, Port: 68}, PortDHCP, "255.255.255.255:68"},
		{"tool on another port", nil, dhcpv4.MessageTypeOffer, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, PortDHCP, "127.0.0.1:40000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := packet(t, dhcpv4.MessageTypeRequest, mac(1))
			if tt.req != nil {
				tt.req(req)
			}
			rep, _ := dhcpv4.NewReplyFromRequest(req, dhcpv4.WithMessageType(tt.reply))
			if got := destination(req, rep, tt.peer, tt.port).String(); got != tt.want {
				t.Errorf("destination() = %s, want %s", got, tt.want)
			}
		})
	}
}

// serveOnLoopback runs s.Serve on a new socket on 127.0.0.1; stop ends it
// and fails the test unless Serve returns nil within 5 s.
func serveOnLoopback(t *testing.T, s *Server) (net.PacketConn, func()) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, conn) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve() after cancel = %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Serve() did not return after cancel")
			}
			conn.Close()
		})
	}
	t.Cleanup(stop)
	return conn, stop
}

// TestServeLoopback runs the socket loop on 127.0.0.1 and checks the
// answers and the packet counters.
func TestServeLoopback(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig(ModeFull)
	cfg.Registerer = reg
	s := newTestServer(t, cfg, newMemStore())
	conn, stop := serveOnLoopback(t, s)

	cl, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	send := func(b []byte) {
		if _, err := cl.WriteTo(b, conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	send([]byte("not a dhcp packet"))
	send(packet(t, dhcpv4.MessageTypeDiscover, mac(1), pxeOpts(vcBIOS, boot.ArchTypeBIOS)...).ToBytes())
	buf := make([]byte, maxPacket)
	_ = cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := cl.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no reply on loopback: %v", err)
	}
	got, err := dhcpv4.FromBytes(buf[:n])
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if got.MessageType() != dhcpv4.MessageTypeOffer || got.YourIPAddr.String() != "198.51.100.100" {
		t.Errorf("reply = %s %s, want OFFER 198.51.100.100", got.MessageType(), got.YourIPAddr)
	}
	stop()
	counts := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "byoi_dhcp_packets_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			counts[l["type"]+"/"+l["outcome"]] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"malformed/dropped": 1, "discover/offer": 1}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("byoi_dhcp_packets_total (-want +got):\n%s", diff)
	}
}

func TestMsgLabel(t *testing.T) {
	tests := []struct {
		in   dhcpv4.MessageType
		want string
	}{
		{dhcpv4.MessageTypeDiscover, "discover"},
		{dhcpv4.MessageTypeInform, "inform"},
		{dhcpv4.MessageTypeNone, "other"},
		{dhcpv4.MessageType(200), "other"},
	}
	for _, tt := range tests {
		if got := msgLabel(tt.in); got != tt.want {
			t.Errorf("msgLabel(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
