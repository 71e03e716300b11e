package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// gzipStream decodes a gzip file member after member, as gzip -d does, and
// decides what may follow the last member at its first byte: another
// member (two gzip files concatenated), zero bytes up to the end of the
// file (padding; gzip -d ignores them too), or nothing. Anything else is
// trailing garbage, which gzip -d ignores with a warning but the installer
// refuses: the checksum covers those bytes, the image does not.
type gzipStream struct {
	src    *countReader
	br     *bufio.Reader
	z      *gzip.Reader
	member int // members started
	err    error
}

// errGzipTrailing is data after the last gzip member that is neither a
// member nor zero padding.
var errGzipTrailing = errors.New("trailing garbage")

func newGzipStream(r io.Reader) (*gzipStream, error) {
	g := &gzipStream{src: &countReader{r: r}}
	g.br = bufio.NewReaderSize(g.src, 64<<10)
	z, err := gzip.NewReader(g.br)
	if err != nil {
		return nil, err
	}
	z.Multistream(false)
	g.z, g.member = z, 1
	return g, nil
}

// consumed is the number of compressed bytes the decoder has used.
func (g *gzipStream) consumed() int64 { return g.src.n - int64(g.br.Buffered()) }

func (g *gzipStream) Read(p []byte) (int, error) {
	for g.err == nil {
		n, err := g.z.Read(p)
		if err == io.EOF {
			err = g.next()
		}
		if err != nil {
			g.err = err
		}
		if n > 0 || err != nil {
			return n, err
		}
	}
	return 0, g.err
}

// next looks at what follows a member: io.EOF at the end of the file (or
// of its zero padding), nil when a new member starts.
func (g *gzipStream) next() error {
	at := g.consumed()
	b, err := g.br.Peek(2)
	switch {
	case len(b) == 0 && err == io.EOF:
		return io.EOF
	case len(b) == 2 && b[0] == 0x1f && b[1] == 0x8b:
		if err := g.z.Reset(g.br); err != nil {
			return fmt.Errorf("member %d at byte %d: %w", g.member+1, at, err)
		}
		g.z.Multistream(false)
		g.member++
		return nil
	case len(b) > 0 && b[0] == 0:
		return g.zeros()
	case err != nil && err != io.EOF:
		return err
	}
	return fmt.Errorf("%w at byte %d, after gzip member %d: not a gzip member or zero padding", errGzipTrailing, at, g.member)
}

// zeros reads zero padding to the end of the file; the first other byte
// is trailing garbage.
func (g *gzipStream) zeros() error {
	start := g.consumed()
	for {
		b, err := g.br.Peek(g.br.Size())
		for i, c := range b {
			if c != 0 {
				return fmt.Errorf("%w at byte %d, after %d zero bytes that follow gzip member %d", errGzipTrailing,
					g.consumed()+int64(i), g.consumed()+int64(i)-start, g.member)
			}
		}
		if _, derr := g.br.Discard(len(b)); derr != nil {
			return derr
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// Close releases the decoder.
func (g *gzipStream) Close() error { return g.z.Close() }

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
