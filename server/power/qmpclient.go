package power

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// QMPError is an error reply of QEMU's machine protocol.
type QMPError struct {
	Command string
	Class   string // GenericError, CommandNotFound, DeviceNotFound, …
	Desc    string
}

func (e *QMPError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Command, e.Class, e.Desc)
}

// QMPConn is one QMP session: greeting read, capabilities negotiated.
// Replies are matched to commands by id; asynchronous events are skipped.
// It is not safe for concurrent use.
type QMPConn struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	seq     atomic.Uint64
	events  []string // names of events read while waiting for replies
}

// maxQMPLine bounds one message from QEMU (qom-list of a big machine is a
// few KiB).
const maxQMPLine = 4 << 20

// DialQMP connects to a QMP socket (unix:/path, /path or tcp:host:port) and
// negotiates capabilities. timeout bounds the dial and every later command.
func DialQMP(ctx context.Context, addr string, timeout time.Duration) (*QMPConn, error) {
	network, address, err := qmpNetAddr(addr)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var dialer net.Dialer
	conn, err := dialer.DialContext(dctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	q := &QMPConn{conn: conn, r: newQMPReader(conn), timeout: timeout}
	if err := q.greet(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func newQMPReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 64<<10) }

// Close ends the session.
func (q *QMPConn) Close() error { return q.conn.Close() }

type qmpMessage struct {
	QMP    json.RawMessage `json:"QMP"`
	Event  string          `json:"event"`
	ID     json.RawMessage `json:"id"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
}

func (q *QMPConn) greet(ctx context.Context) error {
	m, err := q.read(ctx)
	if err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	if m.QMP == nil {
		return errors.New("qmp greeting: the peer did not greet as QEMU does ({\"QMP\": …})")
	}
	return q.Execute(ctx, "qmp_capabilities", nil, nil)
}

// read returns the next message, within the timeout and ctx.
func (q *QMPConn) read(ctx context.Context) (*qmpMessage, error) {
	deadline := time.Now().Add(q.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = q.conn.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = q.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var line []byte
	for {
		chunk, isPrefix, err := q.r.ReadLine()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %v", ErrUnreachable, ctx.Err())
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, fmt.Errorf("%w: no answer within %v", ErrUnreachable, q.timeout)
			}
			return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
		}
		line = append(line, chunk...)
		if len(line) > maxQMPLine {
			return nil, fmt.Errorf("qmp: message longer than %d bytes", maxQMPLine)
		}
		if !isPrefix {
			break
		}
	}
	var m qmpMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("qmp: not a QMP message: %v", err)
	}
	return &m, nil
}

// Execute runs a command with args (nil for none) and decodes its return
// value into ret (nil to ignore it). An error reply is a *QMPError wrapping
// ErrRefused.
func (q *QMPConn) Execute(ctx context.Context, cmd string, args any, ret any) error {
	id := strconv.FormatUint(q.seq.Add(1), 10)
	req := map[string]any{"execute": cmd, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	_ = q.conn.SetWriteDeadline(time.Now().Add(q.timeout))
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	for {
		m, err := q.read(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if m.Event != "" {
			q.noteEvent(m.Event)
			continue
		}
		if m.QMP != nil {
			continue
		}
		var gotID string
		if err := json.Unmarshal(m.ID, &gotID); err != nil || gotID != id {
			continue // a reply to someone else's command, or none at all
		}
		if m.Error != nil {
			return fmt.Errorf("%w: %w", ErrRefused, &QMPError{Command: cmd, Class: m.Error.Class, Desc: m.Error.Desc})
		}
		if ret != nil && m.Return != nil {
			if err := json.Unmarshal(m.Return, ret); err != nil {
				return fmt.Errorf("%s: unexpected return value: %v", cmd, err)
			}
		}
		return nil
	}
}

func (q *QMPConn) noteEvent(name string) {
	if len(q.events) < 64 {
		q.events = append(q.events, name)
	}
}

// WaitEvent returns once QEMU has sent the event name in this session (also
// if it came while a command was waiting for its reply), within the timeout.
func (q *QMPConn) WaitEvent(ctx context.Context, name string) error {
	for i, e := range q.events {
		if e == name {
			q.events = append(q.events[:i], q.events[i+1:]...)
			return nil
		}
	}
	for {
		m, err := q.read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for event %s: %w", name, err)
		}
		if m.Event == name {
			return nil
		}
		if m.Event != "" {
			q.noteEvent(m.Event)
		}
	}
}
