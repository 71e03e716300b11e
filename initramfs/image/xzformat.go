package image

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// maxVLI is the largest variable-length integer xz allows (2^63 - 1).
const maxVLI = 1<<63 - 1

// LZMA2 filter: its id and the largest dictionary property (4 GiB - 1).
const (
	xzLZMA2      = 0x21
	maxLZMA2Prop = 40
)

// xzFilterNames names the filters of the xz format that are refused.
var xzFilterNames = map[uint64]string{
	0x03: "delta", 0x04: "x86 BCJ", 0x05: "PowerPC BCJ", 0x06: "IA-64 BCJ",
	0x07: "ARM BCJ", 0x08: "ARM-Thumb BCJ", 0x09: "SPARC BCJ", 0x0a: "ARM64 BCJ", 0x0b: "RISC-V BCJ",
}

// xzSource reads the compressed file and counts the bytes it consumed.
type xzSource struct {
	r   *bufio.Reader
	n   int64
	err error // the first read error other than io.EOF
}

func (s *xzSource) Read(p []byte) (int, error) {
	if len(p) == 1 { // the LZMA decoder reads its input a byte at a time
		b, err := s.ReadByte()
		if err != nil {
			return 0, err
		}
		p[0] = b
		return 1, nil
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	s.keep(err)
	return n, err
}

// keep records the source's first real read error.
func (s *xzSource) keep(err error) {
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
}

func (s *xzSource) ReadByte() (byte, error) {
	b, err := s.r.ReadByte()
	if err == nil {
		s.n++
	}
	s.keep(err)
	return b, err
}

// full reads exactly len(p) bytes; running out is a truncated file.
func (s *xzSource) full(p []byte) error {
	_, err := io.ReadFull(s, p)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("truncated: %w", errXZCorrupt)
	}
	return err
}

// streamHeader reads a stream header and returns its check type.
func (s *xzSource) streamHeader() (byte, error) {
	var h [12]byte
	if err := s.full(h[:]); err != nil {
		return 0, fmt.Errorf("stream header: %w", err)
	}
	if !bytes.Equal(h[:6], xzMagic) {
		return 0, fmt.Errorf("stream header: bad magic: %w", errXZCorrupt)
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return 0, fmt.Errorf("stream header: bad CRC32: %w", errXZCorrupt)
	}
	return streamFlags(h[6:8])
}

// streamFlags checks the two stream flag bytes and returns the check type.
func streamFlags(f []byte) (byte, error) {
	if f[0] != 0 || f[1] > 0x0f {
		return 0, fmt.Errorf("stream flags %#02x%02x: %w", f[0], f[1], errXZUnsupported)
	}
	switch f[1] {
	case 0x00, 0x01, 0x04, 0x0a: // none, CRC32, CRC64, SHA-256
		return f[1], nil
	}
	return 0, fmt.Errorf("check type %d: %w", f[1], errXZUnsupported)
}

// padding skips stream padding (zero bytes in groups of four) and reports
// whether another stream follows.
func (s *xzSource) padding() (bool, error) {
	for {
		b, err := s.r.Peek(4)
		if len(b) == 0 && err == io.EOF {
			return false, nil
		}
		if err != nil && err != io.EOF {
			return false, err
		}
		if len(b) > 0 && b[0] != 0 {
			return true, nil
		}
		if len(b) < 4 || binary.LittleEndian.Uint32(b) != 0 {
			return false, fmt.Errorf("stream padding: %w", errXZCorrupt)
		}
		s.r.Discard(4)
		s.n += 4
	}
}

// streamFooter reads a stream footer and checks it against the stream
// header's check type and the index's size.
func (s *xzSource) streamFooter(check byte, indexSize int64) error {
	var f [12]byte
	if err := s.full(f[:]); err != nil {
		return fmt.Errorf("stream footer: %w", err)
	}
	switch {
	case string(f[10:]) != "YZ":
		return fmt.Errorf("stream footer: bad magic: %w", errXZCorrupt)
	case crc32.ChecksumIEEE(f[4:10]) != binary.LittleEndian.Uint32(f[:4]):
		return fmt.Errorf("stream footer: bad CRC32: %w", errXZCorrupt)
	case f[8] != 0 || f[9] != check:
		return fmt.Errorf("stream footer: flags differ from the header: %w", errXZCorrupt)
	case (int64(binary.LittleEndian.Uint32(f[4:8]))+1)*4 != indexSize:
		return fmt.Errorf("stream footer: backward size differs from the index: %w", errXZCorrupt)
	}
	return nil
}

// crcReader reads bytes from a source, adding them to a CRC32.
type crcReader struct {
	s   *xzSource
	crc uint32
	n   int64
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.s.ReadByte()
	if err != nil {
		return 0, truncated(err)
	}
	c.crc = crc32.Update(c.crc, crc32.IEEETable, []byte{b})
	c.n++
	return b, nil
}

// index reads a stream's index (after its indicator byte) and checks it
// lists exactly the blocks decoded; it returns the index's size.
func (s *xzSource) index(want *xzIndexSum) (int64, error) {
	r := &crcReader{s: s, crc: crc32.Update(0, crc32.IEEETable, []byte{0}), n: 1}
	count, err := readVLI(r)
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if count != uint64(want.count) {
		return 0, fmt.Errorf("index lists %d blocks, the stream has %d: %w", count, want.count, errXZCorrupt)
	}
	var got xzIndexSum
	for range count {
		unpadded, err := readVLI(r)
		if err != nil {
			return 0, fmt.Errorf("index: %w", err)
		}
		uncompressed, err := readVLI(r)
		if err != nil {
			return 0, fmt.Errorf("index: %w", err)
		}
		if err := got.add(int64(unpadded), int64(uncompressed)); err != nil {
			return 0, fmt.Errorf("index: %w", err)
		}
	}
	if got != *want {
		return 0, fmt.Errorf("index records differ from the blocks: %w", errXZCorrupt)
	}
	for r.n%4 != 0 {
		if b, err := r.ReadByte(); err != nil || b != 0 {
			return 0, fmt.Errorf("index padding: %w", errXZCorrupt)
		}
	}
	var sum [4]byte
	if err := s.full(sum[:]); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if binary.LittleEndian.Uint32(sum[:]) != r.crc {
		return 0, fmt.Errorf("index: bad CRC32: %w", errXZCorrupt)
	}
	return r.n + 4, nil
}

// readVLI reads one of xz's variable-length integers (at most 9 bytes,
// no redundant trailing zero byte).
func readVLI(r io.ByteReader) (uint64, error) {
	var v uint64
	for i := range 9 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, truncated(err)
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if i > 0 && b == 0 {
				return 0, fmt.Errorf("integer with a trailing zero byte: %w", errXZCorrupt)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("integer longer than 9 bytes: %w", errXZCorrupt)
}

// putVLI encodes v as a variable-length integer and returns its length.
func putVLI(p []byte, v uint64) int {
	n := 0
	for v >= 0x80 {
		p[n] = byte(v) | 0x80
		v >>= 7
		n++
	}
	p[n] = byte(v)
	return n + 1
}
