package tftp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TFTP opcodes (RFC 1350, 2347).
const (
	opRRQ   = 1
	opWRQ   = 2
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// TFTP error codes (RFC 1350, 2347).
const (
	errCodeUndefined = 0
	errCodeNotFound  = 1
	errCodeAccess    = 2
	errCodeIllegalOp = 4
)

// Limits of the protocol and of this server.
const (
	maxBlockSize  = 65464 // RFC 2348
	maxWindowSize = 65535 // RFC 7440
	// maxConfigWindow bounds Config.WindowSize, far below 32768 so that a
	// stale ACK from before the outstanding window, once its 16-bit number
	// has rolled over, can never be taken for one inside it.
	maxConfigWindow = 1024
	maxRequest      = 65536 // a request is read whole, whatever its size
)

// option is one option the client asked for and the value granted, under
// the client's own spelling of its name (names are case-insensitive).
type option struct{ name, value string }

// request is a parsed RRQ or WRQ.
type request struct {
	write bool
	name  string
	mode  string   // lower case
	opts  []option // asked for, recognised and valid; values not yet granted
}

// parseRequest reads an RRQ or WRQ: opcode, file name and mode, then
// option/value pairs, each NUL-terminated (a missing final NUL is
// tolerated). Any other packet on the listening port is an error and gets
// no answer.
func parseRequest(p []byte) (request, error) {
	if len(p) < 4 {
		return request{}, fmt.Errorf("packet of %d bytes", len(p))
	}
	op := binary.BigEndian.Uint16(p)
	if op != opRRQ && op != opWRQ {
		return request{}, fmt.Errorf("opcode %d on the listening port", op)
	}
	fields := strings.Split(string(p[2:]), "\x00")
	if len(fields) < 2 {
		return request{}, errors.New("request without a mode")
	}
	r := request{write: op == opWRQ, name: fields[0], mode: strings.ToLower(fields[1])}
	for i := 2; i+1 < len(fields); i += 2 {
		r.setOption(fields[i], fields[i+1])
	}
	return r, nil
}

// setOption records option name=value if this server knows it. The last
// occurrence of a name decides: an invalid value drops an earlier valid
// one, so that what is granted never exceeds what the client asked last.
func (r *request) setOption(name, value string) {
	key := strings.ToLower(name)
	r.opts = deleteOption(r.opts, key)
	if validOption(key, value) {
		r.opts = append(r.opts, option{name: name, value: value})
	}
}

func deleteOption(opts []option, key string) []option {
	out := opts[:0]
	for _, o := range opts {
		if strings.ToLower(o.name) != key {
			out = append(out, o)
		}
	}
	return out
}

// validOption reports whether the option is one this server negotiates,
// with a value in its RFC's range. tsize in a read request carries no
// information (RFC 2349 asks for 0) and is answered whatever its value.
func validOption(key, value string) bool {
	switch key {
	case "blksize":
		n, err := strconv.Atoi(value)
		return err == nil && n >= 8 && n <= maxBlockSize
	case "windowsize":
		n, err := strconv.Atoi(value)
		return err == nil && n >= 1 && n <= maxWindowSize
	case "tsize":
		return true
	}
	return false
}

// negotiation is what a read request is granted.
type negotiation struct {
	blksize, window int
	oack            []byte // nil if no option was granted
}

// negotiate grants the request's options within the server's limits: the
// smaller of the client's blksize and maxBlock (the configured size, or
// less on a link of a small MTU), the smaller of the client's and the
// configured windowsize, the file's size for tsize.
func (r request) negotiate(cfg Config, maxBlock int, size int64) negotiation {
	n := negotiation{blksize: 512, window: 1}
	if len(r.opts) == 0 {
		return n
	}
	n.oack = []byte{0, opOACK}
	for _, o := range r.opts {
		v, _ := strconv.Atoi(o.value)
		switch strings.ToLower(o.name) {
		case "blksize":
			n.blksize = min(v, maxBlock)
			v = n.blksize
		case "windowsize":
			n.window = min(v, cfg.WindowSize)
			v = n.window
		case "tsize":
			v = int(size)
		}
		n.oack = append(n.oack, o.name...)
		n.oack = append(n.oack, 0)
		n.oack = strconv.AppendInt(n.oack, int64(v), 10)
		n.oack = append(n.oack, 0)
	}
	return n
}

// errorPacket builds an ERROR packet.
func errorPacket(code uint16, msg string) []byte {
	p := make([]byte, 4, 5+len(msg))
	binary.BigEndian.PutUint16(p, opERROR)
	binary.BigEndian.PutUint16(p[2:], code)
	p = append(p, msg...)
	return append(p, 0)
}
