package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// stormResult is what the storm role prints.
type stormResult struct {
	Clients  int            `json:"clients"`
	Seconds  float64        `json:"seconds"` // first DISCOVER to the last client's end
	P50      float64        `json:"p50"`     // per-client seconds
	P99      float64        `json:"p99"`
	Failures int            `json:"failures"`
	Reasons  map[string]int `json:"reasons,omitempty"`
	Windows  map[int]int    `json:"windows,omitempty"` // granted TFTP windowsize → clients
	// Median seconds of each phase over the clients that got through it:
	// DISCOVER to ACK, the TFTP download, the GET.
	DHCPP50 float64 `json:"dhcpP50"`
	TFTPP50 float64 `json:"tftpP50"`
	HTTPP50 float64 `json:"httpP50"`
	// Where the time went: clients by the number of DISCOVERs they sent,
	// TFTP packets resent after a timeout, and the slowest clients'
	// timelines (written next to the server's log).
	Start       time.Time     `json:"start"`
	Discovers   map[int]int   `json:"discovers,omitempty"`
	TFTPResends int           `json:"tftpResends"`
	Slowest     []clientTrace `json:"slowest,omitempty"`
	// ServerCPU is the CPU time (user + system) of the server's processes
	// over the run, filled in by the bench.
	ServerCPU float64 `json:"serverCPU"`
}

// stormClient is one simulated UEFI x86-64 PXE client's run.
type stormClient struct {
	mac     net.HardwareAddr
	dhcp    *dhcpSocket
	server  string
	url     string
	blksize int
	window  int              // windowsize asked for; 1: the option is not sent
	granted int              // windowsize the server granted (1 without OACK option)
	phases  [3]time.Duration // DHCP, TFTP, HTTP; 0 if not reached
	size    int64
	http    *http.Client
	trace   *tracer
}

// dhcpTimeouts are the waits between retransmissions (PXE firmware waits
// 4, 8, 16, 32 s; shorter here so that a storm settles quickly).
var dhcpTimeouts = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second}

// roleStorm runs N clients at once: DHCP DISCOVER/REQUEST with PXE options
// (60, 93), TFTP of the boot file, GET of the script. Like PXE firmware,
// clients keep their lease (no RELEASE). With -tftp-only it runs N
// concurrent TFTP downloads only.
func roleStorm(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("storm", flag.ContinueOnError)
	n := fs.Int("n", 50, "clients")
	iface := fs.String("iface", "c0", "interface to broadcast on")
	server := fs.String("server", stormServer, "server address (TFTP, HTTP readiness)")
	url := fs.String("url", "", "script URL")
	file := fs.String("file", "ipxe.efi", "TFTP file (tftp-only mode)")
	size := fs.Int64("size", 0, "expected size of the TFTP file")
	blksize := fs.Int("blksize", 1468, "TFTP block size to ask for")
	window := fs.Int("windowsize", 4, "TFTP windowsize to ask for (EDK2's default is 4; 1 sends no option)")
	tftpOnly := fs.Bool("tftp-only", false, "TFTP downloads only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if err := waitHTTP(ctx, hc, *url); err != nil {
		return err
	}
	var sock *dhcpSocket
	if !*tftpOnly {
		var err error
		if sock, err = listenDHCP(*iface); err != nil {
			return err
		}
		defer sock.close()
	}
	durations := make([]float64, *n)
	errs := make([]error, *n)
	clients := make([]*stormClient, *n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range *n {
		c := &stormClient{mac: net.HardwareAddr{0x02, 0xb7, 0x01, 0x00, byte(i >> 8), byte(i)}, dhcp: sock,
			server: *server, url: *url, blksize: *blksize, window: *window, size: *size, http: hc,
			trace: &tracer{t0: t0}}
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			if *tftpOnly {
				errs[i] = c.tftp(*server, *file)
			} else {
				errs[i] = c.boot(ctx)
			}
			durations[i] = time.Since(start).Seconds()
		}()
	}
	wg.Wait()
	res := stormResult{Clients: *n, Seconds: time.Since(t0).Seconds(), Reasons: map[string]int{}, Windows: map[int]int{},
		Start: t0, Discovers: map[int]int{}}
	res.Slowest = slowest(clients, durations, errs, 10)
	for _, c := range clients {
		if d := c.trace.count("DISCOVER"); d > 0 {
			res.Discovers[d]++
		}
		res.TFTPResends += c.trace.count("TFTP timeout")
	}
	for _, c := range clients {
		if c.granted > 0 {
			res.Windows[c.granted]++
		}
	}
	for ph, p50 := range []*float64{&res.DHCPP50, &res.TFTPP50, &res.HTTPP50} {
		var ds []float64
		for _, c := range clients {
			if c.phases[ph] > 0 {
				ds = append(ds, c.phases[ph].Seconds())
			}
		}
		if len(ds) > 0 {
			slices.Sort(ds)
			*p50 = ds[len(ds)/2]
		}
	}
	slices.Sort(durations)
	res.P50 = durations[len(durations)/2]
	res.P99 = durations[min(len(durations)-1, len(durations)*99/100)]
	for _, err := range errs {
		if err != nil {
			res.Failures++
			res.Reasons[err.Error()]++
		}
	}
	return json.NewEncoder(stdout).Encode(res)
}

// boot is the whole PXE sequence of one client.
func (c *stormClient) boot(ctx context.Context) error {
	t := time.Now()
	ack, err := c.lease(ctx)
	if err != nil {
		return err
	}
	c.phases[0] = time.Since(t)
	tftpServer := ack.ServerIPAddr
	if tftpServer == nil || tftpServer.IsUnspecified() {
		tftpServer = ack.ServerIdentifier()
	}
	file := ack.BootFileNameOption()
	if file == "" {
		file = strings.TrimRight(ack.BootFileName, "\x00")
	}
	if file == "" {
		return errors.New("dhcp: no boot file")
	}
	t = time.Now()
	if err := c.tftp(tftpServer.String(), file); err != nil {
		return err
	}
	c.phases[1] = time.Since(t)
	t = time.Now()
	if err := c.script(); err != nil {
		return err
	}
	c.phases[2] = time.Since(t)
	return nil
}

// lease does DISCOVER → OFFER → REQUEST → ACK with retransmissions.
func (c *stormClient) lease(ctx context.Context) (*dhcpv4.DHCPv4, error) {
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithBroadcast(true),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithRequestedOptions(dhcpv4.OptionBootfileName, dhcpv4.OptionTFTPServerName, dhcpv4.OptionVendorSpecificInformation),
	}
	disc, err := dhcpv4.NewDiscovery(c.mac, pxe...)
	if err != nil {
		return nil, err
	}
	offer, err := c.dhcp.exchange(ctx, disc, dhcpv4.MessageTypeOffer, c.trace)
	if err != nil {
		return nil, fmt.Errorf("dhcp discover: %w", err)
	}
	req, err := dhcpv4.NewRequestFromOffer(offer, pxe...)
	if err != nil {
		return nil, err
	}
	ack, err := c.dhcp.exchange(ctx, req, dhcpv4.MessageTypeAck, c.trace)
	if err != nil {
		return nil, fmt.Errorf("dhcp request: %w", err)
	}
	return ack, nil
}

// tftp downloads file the way EDK2's UEFI PXE client does: it asks for
// blksize, tsize and (if window > 1) windowsize, takes whatever the OACK
// grants (a server that ignores windowsize serves lock step), and checks the
// size it received.
func (c *stormClient) tftp(server, file string) error {
	c.trace.note("TFTP RRQ %s", file)
	n, granted, err := tftpGet(net.JoinHostPort(server, "69"), file, c.blksize, c.window, c.trace)
	if err != nil {
		return fmt.Errorf("tftp: %w", err)
	}
	c.granted = granted
	if c.size > 0 && n != c.size {
		return fmt.Errorf("tftp: got %d bytes, want %d", n, c.size)
	}
	c.trace.note("TFTP done, windowsize %d", granted)
	return nil
}

// script GETs the iPXE script.
func (c *stormClient) script() error {
	resp, err := c.http.Get(c.url)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "#!ipxe") {
		return fmt.Errorf("http: status %d", resp.StatusCode)
	}
	c.trace.note("GET script done")
	return nil
}

func waitHTTP(ctx context.Context, hc *http.Client, url string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("server not ready at %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dhcpSocket is the clients' shared port 68, bound to the interface; replies
// (broadcast) are handed to the waiting client by transaction ID.
type dhcpSocket struct {
	conn    net.PacketConn
	mu      sync.Mutex
	waiting map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4
}

func listenDHCP(iface string) (*dhcpSocket, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = errors.Join(
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1),
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1),
				// Every simulated client shares this socket, where real ones
				// each have a NIC: a buffer for all their replies at once.
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20),
				syscall.BindToDevice(int(fd), iface))
		})
		return errors.Join(err, serr)
	}}
	conn, err := lc.ListenPacket(context.Background(), "udp4", ":68")
	if err != nil {
		return nil, fmt.Errorf("dhcp client socket: %w", err)
	}
	s := &dhcpSocket{conn: conn, waiting: map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}}
	go s.read()
	return s, nil
}

func (s *dhcpSocket) read() {
	buf := make([]byte, 1500)
	for {
		n, _, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		m, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || m.OpCode != dhcpv4.OpcodeBootReply {
			continue
		}
		s.mu.Lock()
		ch := s.waiting[m.TransactionID]
		s.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
		}
	}
}

func (s *dhcpSocket) send(m *dhcpv4.DHCPv4, to *net.UDPAddr) error {
	_, err := s.conn.WriteTo(m.ToBytes(), to)
	return err
}

// exchange broadcasts m until a reply of type want arrives.
func (s *dhcpSocket) exchange(ctx context.Context, m *dhcpv4.DHCPv4, want dhcpv4.MessageType, tr *tracer) (*dhcpv4.DHCPv4, error) {
	ch := make(chan *dhcpv4.DHCPv4, 4)
	s.mu.Lock()
	s.waiting[m.TransactionID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiting, m.TransactionID)
		s.mu.Unlock()
	}()
	bcast := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ServerPort}
	for _, wait := range dhcpTimeouts {
		tr.note("%s", strings.ToUpper(m.MessageType().String()))
		if err := s.send(m, bcast); err != nil {
			return nil, err
		}
		timer := time.NewTimer(wait)
	recv:
		for {
			select {
			case r := <-ch:
				tr.note("%s %s", strings.ToUpper(r.MessageType().String()), r.YourIPAddr)
				switch r.MessageType() {
				case want:
					timer.Stop()
					return r, nil
				case dhcpv4.MessageTypeNak:
					timer.Stop()
					return nil, errors.New("NAK")
				}
			case <-timer.C:
				break recv
			case <-ctx.Done():
				timer.Stop()
				return nil, ctx.Err()
			}
		}
	}
	return nil, errors.New("no answer")
}

func (s *dhcpSocket) close() { _ = s.conn.Close() }
