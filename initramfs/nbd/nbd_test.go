package nbd

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// client is a minimal NBD client written from the protocol document, for
// driving the server byte by byte.
type client struct {
	t *testing.T
	c net.Conn
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.ServeConn(context.Background(), b) }()
	t.Cleanup(func() {
		a.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("ServeConn did not return after the client closed")
		}
	})
	a.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t, a}
}

func (c *client) read(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c.c, b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func (c *client) write(parts ...any) {
	c.t.Helper()
	var b bytes.Buffer
	for _, p := range parts {
		if err := binary.Write(&b, binary.BigEndian, p); err != nil {
			c.t.Fatal(err)
		}
	}
	if _, err := c.c.Write(b.Bytes()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// greet reads the greeting and sends the client flags.
func (c *client) greet(flags uint32) {
	c.t.Helper()
	g := c.read(18)
	if binary.BigEndian.Uint64(g) != magicNBD || binary.BigEndian.Uint64(g[8:]) != magicOpt || binary.BigEndian.Uint16(g[16:]) != 3 {
		c.t.Fatalf("greeting = %x, want NBDMAGIC IHAVEOPT flags 3", g)
	}
	c.write(flags)
}

func (c *client) option(opt uint32, data []byte) {
	c.write(uint64(magicOpt), opt, uint32(len(data)), data)
}

// optReply reads one option reply: type and data.
func (c *client) optReply(opt uint32) (uint32, []byte) {
	c.t.Helper()
	h := c.read(20)
	if binary.BigEndian.Uint64(h) != magicOptReply || binary.BigEndian.Uint32(h[8:]) != opt {
		c.t.Fatalf("option reply header = %x, want magic and option %d", h, opt)
	}
	return binary.BigEndian.Uint32(h[12:]), c.read(int(binary.BigEndian.Uint32(h[16:])))
}

func (c *client) request(typ uint16, handle, off uint64, n uint32, payload []byte) {
	c.write(uint32(magicRequest), uint16(0), typ, handle, off, n, payload)
}

// reply reads a simple reply and returns its error and, for reads, n bytes.
func (c *client) reply(handle uint64, n int) (uint32, []byte) {
	c.t.Helper()
	h := c.read(16)
	if binary.BigEndian.Uint32(h) != magicSimpleRepl || binary.BigEndian.Uint64(h[8:]) != handle {
		c.t.Fatalf("reply header = %x, want simple reply for handle %d", h, handle)
	}
	errno := binary.BigEndian.Uint32(h[4:])
	if errno != 0 || n == 0 {
		return errno, nil
	}
	return 0, c.read(n)
}

func testData(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

func goOption(name string, infos ...uint16) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(name)))
	b.WriteString(name)
	binary.Write(&b, binary.BigEndian, uint16(len(infos)))
	for _, i := range infos {
		binary.Write(&b, binary.BigEndian, i)
	}
	return b.Bytes()
}

func TestHandshakeGoAndRead(t *testing.T) {
	data := testData(3*ChunkSize + 1234)
	s := &Server{Export: Export{Name: "image", Data: bytes.NewReader(data), Size: int64(len(data))}}
	c := dial(t, s)
	c.greet(flagFixedNewstyle | flagNoZeroes)

	c.option(optList, nil)
	typ, d := c.optReply(optList)
	if typ != repServer || string(d[4:]) != "image" {
		t.Fatalf("NBD_OPT_LIST = %d %q, want REP_SERVER image", typ, d)
	}
	if typ, _ := c.optReply(optList); typ != repAck {
		t.Fatalf("NBD_OPT_LIST end = %d, want ACK", typ)
	}
	c.option(42, []byte("x"))
	if typ, _ := c.optReply(42); typ != repErrUnsup {
		t.Fatalf("unknown option = %#x, want NBD_REP_ERR_UNSUP", typ)
	}
	c.option(optGo, goOption("nope"))
	if typ, _ := c.optReply(optGo); typ != repErrUnknown {
		t.Fatalf("NBD_OPT_GO unknown export = %#x, want NBD_REP_ERR_UNKNOWN", typ)
	}
	c.option(optGo, []byte{0, 0, 0, 9, 'x'}) // name runs past the option
	if typ, _ := c.optReply(optGo); typ != repErrInvalid {
		t.Fatalf("NBD_OPT_GO truncated = %#x, want NBD_REP_ERR_INVALID", typ)
	}
	c.option(optGo, goOption("image", infoBlockSize))
	typ, d = c.optReply(optGo)
	if typ != repInfo || binary.BigEndian.Uint16(d) != infoExport || binary.BigEndian.Uint64(d[2:]) != uint64(len(data)) {
		t.Fatalf("NBD_OPT_GO export info = %d %x, want size %d", typ, d, len(data))
	}
	if flags := binary.BigEndian.Uint16(d[10:]); flags&tflagReadOnly == 0 {
		t.Errorf("transmission flags = %#x, want read-only", flags)
	}
	if typ, d = c.optReply(optGo); typ != repInfo || binary.BigEndian.Uint16(d) != infoBlockSize {
		t.Fatalf("NBD_OPT_GO block size info = %d %x", typ, d)
	}
	if typ, _ = c.optReply(optGo); typ != repAck {
		t.Fatalf("NBD_OPT_GO end = %d, want ACK", typ)
	}

	reads := []struct{ off, n int }{{0, 512}, {1, 4095}, {ChunkSize - 10, 20}, {0, 2*ChunkSize + 77}, {len(data) - 1, 1}, {100, 0}}
	for i, r := range reads {
		c.request(cmdRead, uint64(i), uint64(r.off), uint32(r.n), nil)
		errno, got := c.reply(uint64(i), r.n)
		if errno != 0 || !bytes.Equal(got, data[r.off:r.off+r.n]) {
			t.Fatalf("READ %d bytes at %d = errno %d, %d bytes; want the export's bytes", r.n, r.off, errno, len(got))
		}
	}
	errs := []struct {
		name    string
		typ     uint16
		off     uint64
		n       uint32
		payload []byte
		want    uint32
	}{
		{"read past the end", cmdRead, uint64(len(data)) - 10, 11, nil, errOverflow},
		{"read at a huge offset", cmdRead, 1 << 63, 1, nil, errOverflow},
		{"read too long", cmdRead, 0, MaxRequest + 1, nil, errInval},
		{"write", cmdWrite, 0, 3, []byte("abc"), errPerm},
		{"trim", cmdTrim, 0, 4096, nil, errPerm},
		{"write zeroes", cmdWriteZeroes, 0, 4096, nil, errPerm},
		{"flush", cmdFlush, 0, 0, nil, 0},
		{"unknown command", 77, 0, 0, nil, errInval},
	}
	for i, e := range errs {
		h := uint64(100 + i)
		c.request(e.typ, h, e.off, e.n, e.payload)
		if errno, _ := c.reply(h, 0); errno != e.want {
			t.Errorf("%s: errno %d, want %d", e.name, errno, e.want)
		}
	}
	c.request(cmdDisc, 999, 0, 0, nil)
	if n, err := c.c.Read(make([]byte, 1)); err == nil {
		t.Errorf("after NBD_CMD_DISC the connection is still open (%d bytes read)", n)
	}
	want := Stats{Requests: int64(len(reads) + len(errs) + 1), Reads: int64(len(reads)), Errors: 7}
	for _, r := range reads {
		want.ReadBytes += int64(r.n)
	}
	if diff := cmp.Diff(want, s.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}

// The old NBD_OPT_EXPORT_NAME path, with and without the 124 zero bytes.
func TestHandshakeExportName(t *testing.T) {
	data := testData(8192)
	for _, noZeroes := range []bool{true, false} {
		s := &Server{Export: Export{Name: "", Data: bytes.NewReader(data), Size: int64(len(data))}}
		c := dial(t, s)
		flags := uint32(flagFixedNewstyle)
		if noZeroes {
			flags |= flagNoZeroes
		}
		c.greet(flags)
		c.option(optExportName, nil)
		n := 10
		if !noZeroes {
			n += 124
		}
		b := c.read(n)
		if binary.BigEndian.Uint64(b) != uint64(len(data)) {
			t.Fatalf("export size = %d, want %d", binary.BigEndian.Uint64(b), len(data))
		}
		c.request(cmdRead, 1, 4096, 4096, nil)
		if errno, got := c.reply(1, 4096); errno != 0 || !bytes.Equal(got, data[4096:]) {
			t.Fatalf("READ after EXPORT_NAME (noZeroes %v): errno %d", noZeroes, errno)
		}
	}
}

func TestHandshakeAbort(t *testing.T) {
	s := &Server{Export: Export{Data: bytes.NewReader(nil)}}
	a, b := net.Pipe()
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- s.ServeConn(context.Background(), b) }()
	c := &client{t, a}
	c.greet(flagFixedNewstyle)
	c.option(optAbort, nil)
	if typ, _ := c.optReply(optAbort); typ != repAck {
		t.Fatalf("NBD_OPT_ABORT = %d, want ACK", typ)
	}
	if err := <-done; err != nil {
		t.Errorf("ServeConn after abort = %v, want nil", err)
	}
}

// errReader fails every read past limit.
type errReader struct {
	r     io.ReaderAt
	limit int64
}

func (e errReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > e.limit {
		return 0, io.ErrUnexpectedEOF
	}
	return e.r.ReadAt(p, off)
}

// A failed read is EIO when nothing was sent yet; the connection survives.
func TestReadError(t *testing.T) {
	data := testData(4 * ChunkSize)
	s := &Server{Export: Export{Data: errReader{bytes.NewReader(data), ChunkSize}, Size: int64(len(data))}}
	c := dial(t, s)
	c.greet(flagFixedNewstyle | flagNoZeroes)
	c.option(optExportName, nil)
	c.read(10)
	c.request(cmdRead, 1, 2*ChunkSize, 4096, nil)
	if errno, _ := c.reply(1, 4096); errno != errIO {
		t.Fatalf("READ of a failing range = errno %d, want EIO", errno)
	}
	c.request(cmdRead, 2, 0, 4096, nil)
	if errno, got := c.reply(2, 4096); errno != 0 || !bytes.Equal(got, data[:4096]) {
		t.Fatalf("READ after an EIO = errno %d", errno)
	}
}

// qemu-img, an independent client, copies the whole export over TCP and
// gets the same bytes.
func TestQemuImgInterop(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf("qemu-img not found: %v (install qemu-utils)", err)
		}
		t.Skip("qemu-img not found")
	}
	data := testData(5*ChunkSize + 512)
	copy(data[ChunkSize:], make([]byte, ChunkSize)) // a zero region
	s := &Server{Export: Export{Name: "image", Data: bytes.NewReader(data), Size: int64(len(data))}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, l) }()
	out := filepath.Join(t.TempDir(), "out.raw")
	cmd := exec.Command(qemuImg, "convert", "-f", "raw", "-O", "raw", "nbd://"+l.Addr().String()+"/image", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert from byoi's NBD server: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("qemu-img's copy differs from the export (%d bytes vs %d)", len(got), len(data))
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v", err)
	}
	if st := s.Stats(); st.Reads == 0 {
		t.Errorf("Stats() = %+v, want reads", st)
	}
}

// FuzzServeConn feeds arbitrary client bytes: the server never panics and
// always returns once the input is consumed.
func FuzzServeConn(f *testing.F) {
	var seed bytes.Buffer
	binary.Write(&seed, binary.BigEndian, uint32(3))
	binary.Write(&seed, binary.BigEndian, uint64(magicOpt))
	binary.Write(&seed, binary.BigEndian, uint32(optGo))
	g := goOption("", infoBlockSize)
	binary.Write(&seed, binary.BigEndian, uint32(len(g)))
	seed.Write(g)
	for _, q := range []request{{typ: cmdRead, off: 10, n: 100}, {typ: cmdWrite, n: 2}, {typ: cmdRead, off: 1 << 40, n: 1}, {typ: cmdDisc}} {
		binary.Write(&seed, binary.BigEndian, []any{uint32(magicRequest), q.flags, q.typ, q.handle, q.off, q.n})
		if q.typ == cmdWrite {
			seed.WriteString("ab")
		}
	}
	f.Add(seed.Bytes())
	f.Add([]byte{0, 0, 0, 1, 0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54, 0, 0, 0, 1, 0, 0, 0, 0})
	f.Add([]byte{})
	data := testData(64 << 10)
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Server{Export: Export{Data: bytes.NewReader(data), Size: int64(len(data))}}
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() { s.ServeConn(context.Background(), b); close(done) }()
		go io.Copy(io.Discard, a)
		a.SetWriteDeadline(time.Now().Add(2 * time.Second))
		a.Write(in)
		a.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("ServeConn(%x) did not return", in)
		}
	})
}
