package nbd

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
)

// handshake runs the fixed newstyle negotiation. It returns a reader of
// the connection positioned at the first request when the client entered
// transmission (NBD_OPT_EXPORT_NAME or NBD_OPT_GO), nil when it aborted.
func (s *Server) handshake(c net.Conn) (io.Reader, error) {
	var hello [18]byte
	binary.BigEndian.PutUint64(hello[0:], magicNBD)
	binary.BigEndian.PutUint64(hello[8:], magicOpt)
	binary.BigEndian.PutUint16(hello[16:], flagFixedNewstyle|flagNoZeroes)
	if _, err := c.Write(hello[:]); err != nil {
		return nil, fmt.Errorf("nbd: send greeting: %w", err)
	}
	r := bufio.NewReader(c)
	var cf [4]byte
	if _, err := io.ReadFull(r, cf[:]); err != nil {
		return nil, fmt.Errorf("nbd: read client flags: %w", err)
	}
	clientFlags := binary.BigEndian.Uint32(cf[:])
	if clientFlags&^(flagFixedNewstyle|flagNoZeroes) != 0 {
		return nil, fmt.Errorf("nbd: unknown client flags %#x", clientFlags)
	}
	noZeroes := clientFlags&flagNoZeroes != 0
	for {
		var h [16]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, fmt.Errorf("nbd: read option: %w", err)
		}
		if binary.BigEndian.Uint64(h[0:]) != magicOpt {
			return nil, fmt.Errorf("nbd: bad option magic %#x", binary.BigEndian.Uint64(h[0:]))
		}
		opt, n := binary.BigEndian.Uint32(h[8:]), binary.BigEndian.Uint32(h[12:])
		if n > maxOptionBytes {
			return nil, fmt.Errorf("nbd: option %d of %d bytes is too large", opt, n)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("nbd: read option %d data: %w", opt, err)
		}
		done, err := s.option(c, opt, data, noZeroes)
		switch {
		case err != nil:
			return nil, err
		case done && opt == optAbort:
			return nil, nil
		case done:
			return r, nil
		}
	}
}

// option answers one option; done is true when the negotiation is over.
func (s *Server) option(c net.Conn, opt uint32, data []byte, noZeroes bool) (done bool, err error) {
	switch opt {
	case optExportName:
		if string(data) != s.Export.Name && len(data) != 0 {
			// No error reply exists for this option: close.
			return true, fmt.Errorf("nbd: client asked for unknown export %q", data)
		}
		b := make([]byte, 10, 10+124)
		binary.BigEndian.PutUint64(b[0:], uint64(s.Export.Size))
		binary.BigEndian.PutUint16(b[8:], s.transmissionFlags())
		if !noZeroes {
			b = b[:10+124]
		}
		_, err := c.Write(b)
		return true, err
	case optAbort:
		return true, s.reply(c, opt, repAck, nil)
	case optList:
		if len(data) != 0 {
			return false, s.reply(c, opt, repErrInvalid, []byte("NBD_OPT_LIST takes no data"))
		}
		name := make([]byte, 4+len(s.Export.Name))
		binary.BigEndian.PutUint32(name, uint32(len(s.Export.Name)))
		copy(name[4:], s.Export.Name)
		if err := s.reply(c, opt, repServer, name); err != nil {
			return false, err
		}
		return false, s.reply(c, opt, repAck, nil)
	case optInfo, optGo:
		return s.info(c, opt, data)
	}
	return false, s.reply(c, opt, repErrUnsup, nil)
}

// info answers NBD_OPT_INFO and NBD_OPT_GO: export size and flags, and
// block sizes (1 byte minimum, 4 KiB preferred, ChunkSize largest).
func (s *Server) info(c net.Conn, opt uint32, data []byte) (bool, error) {
	if len(data) < 6 {
		return false, s.reply(c, opt, repErrInvalid, []byte("option too short"))
	}
	nameLen := binary.BigEndian.Uint32(data)
	if uint64(nameLen)+6 > uint64(len(data)) {
		return false, s.reply(c, opt, repErrInvalid, []byte("name length beyond the option"))
	}
	name := string(data[4 : 4+nameLen])
	nreq := binary.BigEndian.Uint16(data[4+nameLen:])
	if int(4+nameLen+2)+2*int(nreq) != len(data) {
		return false, s.reply(c, opt, repErrInvalid, []byte("information requests do not match the option length"))
	}
	if name != s.Export.Name && name != "" {
		return false, s.reply(c, opt, repErrUnknown, []byte("no such export"))
	}
	exp := make([]byte, 12)
	binary.BigEndian.PutUint16(exp[0:], infoExport)
	binary.BigEndian.PutUint64(exp[2:], uint64(s.Export.Size))
	binary.BigEndian.PutUint16(exp[10:], s.transmissionFlags())
	if err := s.reply(c, opt, repInfo, exp); err != nil {
		return false, err
	}
	bs := make([]byte, 14)
	binary.BigEndian.PutUint16(bs[0:], infoBlockSize)
	binary.BigEndian.PutUint32(bs[2:], 1)
	binary.BigEndian.PutUint32(bs[6:], 4096)
	binary.BigEndian.PutUint32(bs[10:], MaxRequest)
	if err := s.reply(c, opt, repInfo, bs); err != nil {
		return false, err
	}
	if err := s.reply(c, opt, repAck, nil); err != nil {
		return false, err
	}
	return opt == optGo, nil
}

func (s *Server) transmissionFlags() uint16 {
	return tflagHasFlags | tflagReadOnly | tflagSendFlush | tflagMultiConn
}

// reply sends one option reply.
func (s *Server) reply(c net.Conn, opt, typ uint32, data []byte) error {
	b := make([]byte, 20+len(data))
	binary.BigEndian.PutUint64(b[0:], magicOptReply)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], typ)
	binary.BigEndian.PutUint32(b[16:], uint32(len(data)))
	copy(b[20:], data)
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("nbd: option %d reply: %w", opt, err)
	}
	return nil
}
