package nbd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// request is one transmission request header.
type request struct {
	flags  uint16
	typ    uint16
	handle uint64
	off    uint64
	n      uint32
}

// Transmit serves the transmission phase on rw, whose handshake is already
// done (the kernel client after Attach, or a caller of its own), until the
// client sends NBD_CMD_DISC (nil) or rw fails.
func (s *Server) Transmit(rw io.ReadWriter) error {
	return s.transmit(rw, rw)
}

func (s *Server) transmit(r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	for {
		var h [28]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the client closed without NBD_CMD_DISC
			}
			return fmt.Errorf("nbd: read request: %w", err)
		}
		if m := binary.BigEndian.Uint32(h[0:]); m != magicRequest {
			return fmt.Errorf("nbd: bad request magic %#x", m)
		}
		q := request{
			flags: binary.BigEndian.Uint16(h[4:]), typ: binary.BigEndian.Uint16(h[6:]),
			handle: binary.BigEndian.Uint64(h[8:]), off: binary.BigEndian.Uint64(h[16:]), n: binary.BigEndian.Uint32(h[24:]),
		}
		s.count(func(st *Stats) { st.Requests++ })
		switch q.typ {
		case cmdRead:
			if buf == nil {
				buf = make([]byte, ChunkSize)
			}
			if err := s.read(bw, q, buf); err != nil {
				return err
			}
		case cmdDisc:
			return bw.Flush()
		case cmdWrite:
			// The payload follows even when the write is refused.
			if q.n > MaxRequest {
				return fmt.Errorf("nbd: write of %d bytes: too large to skip", q.n)
			}
			if _, err := io.CopyN(io.Discard, br, int64(q.n)); err != nil {
				return fmt.Errorf("nbd: read write payload: %w", err)
			}
			if err := s.simple(bw, q.handle, errPerm); err != nil {
				return err
			}
		case cmdTrim, cmdWriteZeroes:
			if err := s.simple(bw, q.handle, errPerm); err != nil {
				return err
			}
		case cmdFlush, cmdCache:
			if err := s.simple(bw, q.handle, 0); err != nil {
				return err
			}
		default:
			if err := s.simple(bw, q.handle, errInval); err != nil {
				return err
			}
		}
		// Answer now unless more requests are already waiting.
		if br.Buffered() < len(h) {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("nbd: send reply: %w", err)
			}
		}
	}
}

// read answers a read request: the reply header, then the data in chunks.
// An error before the first byte is an EIO reply; after it the connection
// is ended, since the header already promised success.
func (s *Server) read(w *bufio.Writer, q request, buf []byte) error {
	size := uint64(s.Export.Size)
	switch {
	case q.n > MaxRequest:
		return s.simple(w, q.handle, errInval)
	case q.off > size || uint64(q.n) > size-q.off:
		return s.simple(w, q.handle, errOverflow)
	}
	off, left := int64(q.off), int64(q.n)
	first := true
	for first || left > 0 {
		n := min(left, int64(len(buf)))
		got, err := s.Export.Data.ReadAt(buf[:n], off)
		if int64(got) < n {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			s.log().Error("nbd read failed", "offset", off, "length", n, "err", err)
			if first {
				return s.simple(w, q.handle, errIO)
			}
			return fmt.Errorf("nbd: read at %d after the reply started: %w", off, err)
		}
		if first {
			if err := s.header(w, q.handle, 0); err != nil {
				return err
			}
			first = false
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("nbd: send data: %w", err)
		}
		off += n
		left -= n
	}
	s.count(func(st *Stats) { st.Reads++; st.ReadBytes += int64(q.n) })
	return nil
}

// simple sends a reply without data.
func (s *Server) simple(w *bufio.Writer, handle uint64, errno uint32) error {
	if errno != 0 {
		s.count(func(st *Stats) { st.Errors++ })
	}
	return s.header(w, handle, errno)
}

func (s *Server) header(w *bufio.Writer, handle uint64, errno uint32) error {
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:], magicSimpleRepl)
	binary.BigEndian.PutUint32(b[4:], errno)
	binary.BigEndian.PutUint64(b[8:], handle)
	if _, err := w.Write(b[:]); err != nil {
		return fmt.Errorf("nbd: send reply: %w", err)
	}
	return nil
}
