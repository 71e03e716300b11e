package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/byoi/byoi/initramfs/image/lzma2"
)

// The xz container (stream header, blocks, index, stream footer, stream
// padding, concatenated streams) is parsed here rather than by
// github.com/ulikunitz/xz, whose ReaderConfig.DictCap is a floor: it
// allocates whatever dictionary a block header declares, up to 4 GiB. Each
// block's LZMA2 data is decoded by the lzma2 package with a dictionary
// this file sizes itself: the declared size, refused above maxXZDict, and
// never more than the block's uncompressed size when its header gives it.

// maxXZDict is the largest LZMA2 dictionary accepted (xz -9 uses 64 MiB).
const maxXZDict = 64 << 20

// Errors of the xz decoder, checked with errors.Is.
var (
	// errXZCorrupt is a malformed or damaged xz file.
	errXZCorrupt = errors.New("corrupt xz data")
	// errXZLimit is a block asking for more memory than the installer allows.
	errXZLimit = errors.New("xz memory limit exceeded")
	// errXZUnsupported is a valid xz feature the installer does not decode.
	errXZUnsupported = errors.New("unsupported xz feature")
)

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

// xzReader decodes an xz file. A goroutine (run) parses the container and
// emits the decoded data in order as pieces on out; blocks whose headers
// give both sizes are decoded by up to workers goroutines at once, within
// xzBudget bytes; other blocks are decoded by run itself, in pieces of
// xzPieceSize.
type xzReader struct {
	src     *xzSource
	check   byte // the first stream's check type, read by newXZReader
	workers int

	out    chan *xzPiece
	done   chan struct{} // closed by Close
	ready  chan struct{} // always closed: the done of pieces decoded by run
	budget chan struct{} // one token per MiB of block memory in flight
	sem    chan struct{} // one token per decoding worker
	final  error         // run's result, read after out is closed
	async  int           // blocks decoded by workers, read after out is closed

	start sync.Once
	stop  sync.Once
	cur   *xzPiece
	rest  []byte
	err   error

	// Memory reused for the whole file: the sequential decoder and its
	// dictionary, the pieces it emits, the workers' decoders and the
	// buffers of blocks decoded in parallel.
	seq    *lzma2.Reader
	pieces chan []byte
	decs   chan *lzma2.Reader
	bufs   bufPool

	// hist, if set, serves the decoded stream's bytes back (from the disk
	// they were written to): a block decoded sequentially then keeps only
	// xzWindow bytes of a larger dictionary in memory. produced counts the
	// bytes of the blocks before the current one (run's goroutine only).
	hist     lzma2.History
	produced int64
}

// xzWindow is the part of a dictionary kept in memory when the decoded
// bytes can be read back: xz -9's 64 MiB dictionary costs 16 MiB.
const xzWindow = 16 << 20

// xzPieceSize is the size of the pieces blocks decoded sequentially are
// handed out in.
const xzPieceSize = 256 << 10

// xzPiece is a run of decoded bytes, ready once done is closed.
type xzPiece struct {
	buf    []byte
	err    error
	done   chan struct{}
	tokens int // budget tokens to give back once consumed
	// in and out return to the reader's buffers once consumed; piece
	// says buf is a sequential piece instead.
	in, out []byte
	piece   bool
}

// newXZReader reads the stream header from r and returns the decoder,
// decoding blocks on up to workers goroutines (1 = none in parallel).
func newXZReader(r io.Reader, workers int) (*xzReader, error) {
	src := &xzSource{r: bufio.NewReaderSize(r, 64<<10)}
	check, err := src.streamHeader()
	if err != nil {
		return nil, err
	}
	workers = max(1, workers)
	x := &xzReader{
		src: src, check: check, workers: workers,
		out:    make(chan *xzPiece, 4),
		done:   make(chan struct{}),
		ready:  make(chan struct{}),
		budget: make(chan struct{}, xzBudget>>20),
		sem:    make(chan struct{}, workers),
		pieces: make(chan []byte, 8),
		decs:   make(chan *lzma2.Reader, workers),
	}
	close(x.ready)
	return x, nil
}

// Read returns the decoded bytes of every stream, in order.
func (x *xzReader) Read(p []byte) (int, error) {
	x.start.Do(func() { go x.run() })
	for len(x.rest) == 0 {
		x.release()
		if x.err != nil {
			return 0, x.err
		}
		var pc *xzPiece
		var ok bool
		select {
		case pc, ok = <-x.out:
		case <-x.done:
			x.err = errors.New("xz: read after close")
			return 0, x.err
		}
		if !ok {
			x.err = x.final
			if x.err == nil {
				x.err = io.EOF
			}
			continue
		}
		<-pc.done
		x.cur, x.rest = pc, pc.buf
		if pc.err != nil {
			x.err = pc.err
		}
	}
	n := copy(p, x.rest)
	x.rest = x.rest[n:]
	return n, nil
}

// release hands the memory and the budget of the consumed piece back to run.
func (x *xzReader) release() {
	pc := x.cur
	if pc == nil {
		return
	}
	switch {
	case pc.piece:
		select {
		case x.pieces <- pc.buf[:0]:
		default:
		}
	case pc.out != nil:
		x.bufs.put(pc.in)
		x.bufs.put(pc.out)
	}
	for range pc.tokens {
		<-x.budget
	}
	x.cur = nil
}

// piece returns an empty sequential piece buffer.
func (x *xzReader) piece() []byte {
	select {
	case b := <-x.pieces:
		return b
	default:
		return make([]byte, 0, xzPieceSize)
	}
}

// Close stops the decoding goroutines (a worker finishes its block first).
func (x *xzReader) Close() error {
	x.stop.Do(func() { close(x.done) })
	return nil
}

// emit queues pc for Read; false means the reader was closed.
func (x *xzReader) emit(pc *xzPiece) bool {
	select {
	case x.out <- pc:
		return true
	case <-x.done:
		return false
	}
}

// run parses every stream and block, then closes out.
func (x *xzReader) run() {
	defer close(x.out)
	err := x.streams()
	if errors.Is(err, errXZClosed) {
		err = nil
	}
	x.final = err
}

// errXZClosed ends run when the reader is closed.
var errXZClosed = errors.New("xz reader closed")

// streams decodes the first stream and any concatenated after it.
func (x *xzReader) streams() error {
	check := x.check
	for n := 1; ; n++ {
		if err := x.stream(n, check); err != nil {
			return err
		}
		more, err := x.src.padding()
		if err != nil || !more {
			return err
		}
		if check, err = x.src.streamHeader(); err != nil {
			return fmt.Errorf("stream %d: %w", n+1, err)
		}
	}
}

// stream decodes the blocks of stream sn, then checks its index and footer.
func (x *xzReader) stream(sn int, check byte) error {
	var idx xzIndexSum
	for n := 1; ; n++ {
		size, err := x.src.ReadByte()
		if err != nil {
			return fmt.Errorf("stream %d: %w", sn, truncated(err))
		}
		if size == 0 {
			break // the index indicator
		}
		pos := fmt.Sprintf("stream %d: block %d", sn, n)
		b, err := x.src.blockHeader(size)
		if err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
		b.pos, b.check = pos, check
		if x.parallel(b) {
			err = x.blockAsync(b)
		} else {
			err = x.blockSync(b)
		}
		if err == errXZClosed {
			return err
		}
		if err == nil {
			x.produced += b.uncompressed
			err = idx.add(b.unpadded(), b.uncompressed)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", pos, err)
		}
	}
	size, err := x.src.index(&idx)
	if err == nil {
		err = x.src.streamFooter(check, size)
	}
	if err != nil {
		return fmt.Errorf("stream %d: %w", sn, err)
	}
	return nil
}

// xzIndexSum accumulates what the index must list, in constant memory.
type xzIndexSum struct {
	count, unpadded, uncompressed int64
	crc                           uint32
}

func (s *xzIndexSum) add(unpadded, uncompressed int64) error {
	if unpadded > maxVLI-s.unpadded || uncompressed > maxVLI-s.uncompressed {
		return fmt.Errorf("stream sizes overflow: %w", errXZCorrupt)
	}
	s.count++
	s.unpadded += unpadded
	s.uncompressed += uncompressed
	var rec [18]byte
	n := putVLI(rec[:], uint64(unpadded))
	n += putVLI(rec[n:], uint64(uncompressed))
	s.crc = crc32.Update(s.crc, crc32.IEEETable, rec[:n])
	return nil
}

// checkSize is the size of the check field of each check type.
func checkSize(id byte) int {
	if id == 0 {
		return 0
	}
	return 4 << ((id - 1) / 3)
}

func truncated(err error) error {
	if err == io.EOF {
		return fmt.Errorf("truncated: %w", errXZCorrupt)
	}
	return err
}

// hasXZMagic reports whether b starts an xz stream.
func hasXZMagic(b []byte) bool { return bytes.HasPrefix(b, xzMagic) }
