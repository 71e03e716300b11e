package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"hash/crc64"
	"io"
	"testing"
)

// xzBuild writes xz files for tests without an encoder: each block's LZMA2
// data is a run of uncompressed chunks, which any decoder must accept. Its
// fields let a test make every part of the file wrong on purpose.
type xzBuild struct {
	check   byte     // check type of the stream flags
	noSize  bool     // omit the sizes from block headers
	prop    byte     // LZMA2 dictionary property (0 = 4 KiB... 40 = 4 GiB)
	filters [][]byte // filter flags before the LZMA2 one (e.g. delta)
	flags   byte     // extra block flag bits
	// Overrides, applied when not zero.
	compressed, uncompressed uint64 // header sizes
	count                    uint64 // index record count
}

// lzma2Stored encodes data as uncompressed LZMA2 chunks and an end marker.
func lzma2Stored(data []byte) []byte {
	var out []byte
	ctl := byte(0x01) // uncompressed, dictionary reset
	for len(data) > 0 {
		n := min(len(data), 64<<10)
		out = append(out, ctl, byte((n-1)>>8), byte(n-1))
		out = append(out, data[:n]...)
		data, ctl = data[n:], 0x02
	}
	return append(out, 0)
}

// xzCheckOf is the check field of data for check type id.
func xzCheckOf(id byte, data []byte) []byte {
	switch id {
	case 0x01:
		return binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(data))
	case 0x04:
		return binary.LittleEndian.AppendUint64(nil, crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)))
	case 0x0a:
		s := sha256.Sum256(data)
		return s[:]
	}
	return make([]byte, checkSize(id))
}

func vli(v uint64) []byte { p := make([]byte, 10); return p[:putVLI(p, v)] }

// header is a block header for a block of payload (LZMA2) and data bytes.
func (o xzBuild) header(payload, data []byte) []byte {
	flags := byte(len(o.filters)) | o.flags
	h := []byte{0, 0}
	if !o.noSize {
		flags |= 0xc0
		c, u := uint64(len(payload)), uint64(len(data))
		if o.compressed != 0 {
			c = o.compressed
		}
		if o.uncompressed != 0 {
			u = o.uncompressed
		}
		h = append(append(h, vli(c)...), vli(u)...)
	}
	for _, f := range o.filters {
		h = append(h, f...)
	}
	h = append(h, xzLZMA2, 1, o.prop)
	for len(h)%4 != 0 {
		h = append(h, 0)
	}
	h[0], h[1] = byte(len(h)/4), flags
	return binary.LittleEndian.AppendUint32(h, crc32.ChecksumIEEE(h))
}

// stream is one xz stream holding a block per element of blocks.
func (o xzBuild) stream(blocks ...[]byte) []byte {
	flags := []byte{0, o.check}
	out := append(append([]byte{}, xzMagic...), flags...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(flags))
	index := []byte{0}
	count := uint64(len(blocks))
	if o.count != 0 {
		count = o.count
	}
	index = append(index, vli(count)...)
	for _, data := range blocks {
		payload := lzma2Stored(data)
		h := o.header(payload, data)
		out = append(append(out, h...), payload...)
		for len(payload)%4 != 0 {
			payload = append(payload, 0)
			out = append(out, 0)
		}
		out = append(out, xzCheckOf(o.check, data)...)
		unpadded := len(h) + len(lzma2Stored(data)) + checkSize(o.check)
		index = append(append(index, vli(uint64(unpadded))...), vli(uint64(len(data)))...)
	}
	for len(index)%4 != 0 {
		index = append(index, 0)
	}
	index = binary.LittleEndian.AppendUint32(index, crc32.ChecksumIEEE(index))
	out = append(out, index...)
	foot := binary.LittleEndian.AppendUint32(nil, uint32(len(index)/4-1))
	foot = append(foot, flags...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(foot))
	return append(append(out, foot...), 'Y', 'Z')
}

// decodeXZ decodes z with workers goroutines, at most limit bytes.
func decodeXZ(z []byte, workers int, limit int64) ([]byte, error) {
	x, err := newXZReader(bytes.NewReader(z), workers)
	if err != nil {
		return nil, err
	}
	defer x.Close()
	var out bytes.Buffer
	_, err = io.Copy(&out, io.LimitReader(x, limit))
	return out.Bytes(), err
}

// TestXZBuild checks the builder itself: its files decode to their data.
func TestXZBuild(t *testing.T) {
	data := bytes.Repeat([]byte("byoi "), 30000)
	for _, check := range []byte{0, 1, 4, 10} {
		z := xzBuild{check: check}.stream(data, data[:7])
		got, err := decodeXZ(z, 1, 1<<30)
		if err != nil || !bytes.Equal(got, append(append([]byte{}, data...), data[:7]...)) {
			t.Errorf("decodeXZ(built, check %d) = %d bytes, %v; want %d bytes", check, len(got), err, len(data)+7)
		}
	}
}
