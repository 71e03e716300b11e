package image

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// choppy returns data in reads of random sizes, then err (io.EOF for a
// clean end), counting the bytes handed out.
type choppy struct {
	data []byte
	err  error
	rng  *rand.Rand
	read atomic.Int64
}

func (c *choppy) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	n := min(len(p), 1+c.rng.IntN(3*aheadBufSize/2), len(c.data))
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	c.read.Add(int64(n))
	return n, nil
}

// TestReadAheadStream: the bytes come out in order, in reads of any size,
// and the error that ended the source comes after exactly the bytes read
// before it, however the reads and the buffers line up.
func TestReadAheadStream(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	failed := errors.New("connection reset")
	for _, size := range []int{0, 1, aheadBufSize - 1, aheadBufSize, aheadBufSize + 1, 3*aheadBufs*aheadBufSize + 12345} {
		for _, end := range []error{io.EOF, failed} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			a := newReadAhead(&choppy{data: data, err: end, rng: rand.New(rand.NewPCG(uint64(size), 5))})
			var got bytes.Buffer
			var err error
			for {
				p := make([]byte, 1+rng.IntN(2*aheadBufSize))
				var n int
				n, err = a.Read(p)
				got.Write(p[:n])
				if err != nil {
					break
				}
			}
			if err != end {
				t.Errorf("%d bytes ending with %v: Read error %v", size, end, err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Errorf("%d bytes ending with %v: got %d bytes, not the source's", size, end, got.Len())
			}
			if _, err2 := a.Read(make([]byte, 8)); err2 != end {
				t.Errorf("%d bytes ending with %v: Read after the end: %v", size, end, err2)
			}
			a.Close()
			a.Close() // twice is fine
		}
	}
}

// TestReadAheadBounded: with nobody reading, the goroutine reads
// aheadBufs buffers and then waits; Close ends it without reading more.
func TestReadAheadBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &choppy{data: make([]byte, 64*aheadBufSize), err: io.EOF, rng: rand.New(rand.NewPCG(3, 4))}
		a := newReadAhead(src)
		synctest.Wait()
		if got, want := src.read.Load(), int64(aheadBufs*aheadBufSize); got != want {
			t.Fatalf("read ahead %d bytes with no consumer, want %d", got, want)
		}
		p := make([]byte, aheadBufSize+1) // the first buffer and a byte of the second
		if _, err := io.ReadFull(a, p); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, want := src.read.Load(), int64((aheadBufs+1)*aheadBufSize); got != want {
			t.Fatalf("read ahead %d bytes after one buffer was consumed, want %d", got, want)
		}
		a.Close()
		if got, want := src.read.Load(), int64((aheadBufs+1)*aheadBufSize); got != want {
			t.Fatalf("read %d bytes by Close, want %d", got, want)
		}
	})
}
