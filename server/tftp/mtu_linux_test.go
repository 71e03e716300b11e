package tftp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/netns"
)

// mtuLab is a server namespace with two links to two client namespaces:
// "small" (veth of MTU 1450, an overlay's) and "full" (MTU 1500), and a
// TFTP server on the wildcard address in the server namespace.
type mtuLab struct {
	srv, small, full *netns.NS
	port             int
	file             []byte
}

func newMTULab(t *testing.T) *mtuLab {
	t.Helper()
	netns.Require(t)
	l := &mtuLab{}
	for _, p := range []struct {
		ns     **netns.NS
		prefix string
	}{{&l.srv, "byoi-tftp-srv"}, {&l.small, "byoi-tftp-1450"}, {&l.full, "byoi-tftp-1500"}} {
		ns, err := netns.New(p.prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ns.Close() })
		*p.ns = ns
	}
	if err := l.srv.Link(l.small, "small0", "198.51.100.1/25", "eth0", "198.51.100.2/25"); err != nil {
		t.Fatal(err)
	}
	if err := l.srv.Link(l.full, "full0", "198.51.100.129/25", "eth0", "198.51.100.130/25"); err != nil {
		t.Fatal(err)
	}
	for _, end := range []struct {
		ns  *netns.NS
		ifc string
	}{{l.srv, "small0"}, {l.small, "eth0"}} {
		if err := end.ns.IP("link", "set", end.ifc, "mtu", "1450"); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	l.file = writeRandom(t, filepath.Join(root, "ipxe.efi"), 200_000)
	l.port = startServerChild(t, l.srv, root)
	return l
}

// mtuChildEnv names the directory the child process serves.
const mtuChildEnv = "BYOI_TFTP_MTU_CHILD_ROOT"

// startServerChild runs the TFTP server in a process of its own inside ns
// (a transfer socket is made by whichever thread runs the transfer, so an
// in-process server would make them outside the namespace): this test
// binary again, running TestMTUServerChild. It returns the server's port
// and stops the child (by closing its stdin, then by its PID) at cleanup.
func startServerChild(t *testing.T, ns *netns.NS, root string) int {
	t.Helper()
	cmd := ns.Command(context.Background(), os.Args[0], "-test.run=^TestMTUServerChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), mtuChildEnv+"="+root)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the server child: %v", err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("server child: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // the process we started, by PID
			t.Errorf("server child did not stop when its stdin closed: %v", <-exited)
		}
	})
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
				n, _ := strconv.Atoi(p)
				port <- n
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case p := <-port:
		return p
	case <-time.After(30 * time.Second):
		t.Fatal("the server child did not report its port")
		return 0
	}
}

// TestMTUServerChild is the server process of the MTU tests: it serves the
// directory in BYOI_TFTP_MTU_CHILD_ROOT on the wildcard address, prints
// "PORT n", and stops when its stdin closes.
func TestMTUServerChild(t *testing.T) {
	root := os.Getenv(mtuChildEnv)
	if root == "" {
		t.Skip("child process of the MTU tests; runs only when started by them")
	}
	s, err := New(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("PORT %d\n", conn.LocalAddr().(*net.UDPAddr).Port)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := s.Serve(ctx, conn); err != nil {
		t.Fatal(err)
	}
}

// fetchFrom downloads name in lock step from a socket made in client,
// asking for blksize 1468, and returns the block size the OACK granted, the
// largest DATA payload received and the file.
func fetchFrom(t *testing.T, client *netns.NS, server string, name string) (granted, largest int, data []byte) {
	t.Helper()
	var conn *net.UDPConn
	if err := client.Run(func() (err error) { conn, err = net.ListenUDP("udp4", nil); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		t.Fatal(err)
	}
	rrq := []byte("\x00\x01" + name + "\x00octet\x00blksize\x001468\x00tsize\x000\x00")
	if _, err := conn.WriteToUDP(rrq, to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	var file bytes.Buffer
	for want := 0; ; want++ {
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("waiting for block %d of %s: %v", want, name, err)
		}
		op, block := binary.BigEndian.Uint16(buf), int(binary.BigEndian.Uint16(buf[2:]))
		switch {
		case want == 0 && op == opOACK:
			fields := strings.Split(string(buf[2:n]), "\x00")
			for i := 0; i+1 < len(fields); i += 2 {
				if fields[i] == "blksize" {
					granted, _ = strconv.Atoi(fields[i+1])
				}
			}
		case want > 0 && op == opDATA && block == want:
			largest = max(largest, n-4)
			file.Write(buf[4:n])
		default:
			t.Fatalf("expected block %d of %s, got opcode %d block %d", want, name, op, block)
		}
		if _, err := conn.WriteToUDP([]byte{0, opACK, byte(want >> 8), byte(want)}, from); err != nil {
			t.Fatal(err)
		}
		if want > 0 && n-4 < granted {
			return granted, largest, file.Bytes()
		}
	}
}

// fragmentsCreated reads the IPv4 FragCreates counter of ns: datagrams the
// kernel split because they did not fit the outgoing link.
func fragmentsCreated(t *testing.T, ns *netns.NS) int {
	t.Helper()
	out, err := ns.Command(context.Background(), "cat", "/proc/net/snmp").Output()
	if err != nil {
		t.Fatalf("read /proc/net/snmp in %s: %v", ns.Name(), err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "FragCreates" && i < len(f) {
				v, err := strconv.Atoi(f[i])
				if err != nil {
					t.Fatalf("FragCreates %q: %v", f[i], err)
				}
				return v
			}
		}
	}
	t.Fatalf("no FragCreates in /proc/net/snmp of %s:\n%s", ns.Name(), out)
	return 0
}

// TestBlockSizeFitsTheLinkMTU: a client asking for 1468-byte blocks over a
// 1450-MTU link is granted 1418 (1450 - 20 - 8 - 4) and the server
// fragments nothing; over a 1500-MTU link of the same server it is granted
// 1468; a route to the client with a smaller MTU lowers it further.
func TestBlockSizeFitsTheLinkMTU(t *testing.T) {
	l := newMTULab(t)
	for _, tc := range []struct {
		name   string
		client *netns.NS
		server string
		setup  func() error
		want   int
	}{
		{"1450-MTU link", l.small, "198.51.100.1", nil, 1418},
		{"1500-MTU link", l.full, "198.51.100.129", nil, 1468},
		{"route of MTU 1400 on the 1500 link", l.full, "198.51.100.129", func() error {
			return l.srv.IP("route", "add", "198.51.100.130/32", "dev", "full0", "mtu", "1400")
		}, 1368},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				if err := tc.setup(); err != nil {
					t.Fatal(err)
				}
			}
			frags := fragmentsCreated(t, l.srv)
			granted, largest, data := fetchFrom(t, tc.client, net.JoinHostPort(tc.server, strconv.Itoa(l.port)), "ipxe.efi")
			if granted != tc.want || largest != tc.want {
				t.Errorf("blksize 1468 over the %s: granted %d, largest DATA %d bytes, want %d", tc.name, granted, largest, tc.want)
			}
			if !bytes.Equal(data, l.file) {
				t.Errorf("downloaded %d bytes, not the %d-byte file", len(data), len(l.file))
			}
			if got := fragmentsCreated(t, l.srv) - frags; got != 0 {
				t.Errorf("the server fragmented %d datagrams, want none", got)
			}
		})
	}
}

// TestBlockSizeInteropSmallMTU: busybox tftp asking for 1468-byte blocks
// downloads the file whole over the 1450-MTU link.
func TestBlockSizeInteropSmallMTU(t *testing.T) {
	l := newMTULab(t)
	bin := needTool(t, "busybox")
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	frags := fragmentsCreated(t, l.srv)
	cmd := l.small.Command(ctx, bin, "tftp", "-g", "-b", "1468", "-r", "ipxe.efi", "-l", out, "198.51.100.1", strconv.Itoa(l.port))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox tftp: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, l.file) {
		t.Fatalf("busybox downloaded %d bytes (%v), want the %d-byte file", len(got), err, len(l.file))
	}
	if got := fragmentsCreated(t, l.srv) - frags; got != 0 {
		t.Errorf("the server fragmented %d datagrams, want none", got)
	}
}
