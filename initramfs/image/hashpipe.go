package image

import (
	"hash"
	"sync"
)

// Geometry of the hashing pipeline: bytes are gathered into buffers of
// hashBufSize and at most hashBufs of them exist, so the hash can lag the
// download by at most that much (1 MiB) and memory stays flat.
const (
	hashBufSize = 256 << 10
	hashBufs    = 4
)

// asyncHash is a hash.Hash-like writer that hashes on its own goroutine:
// Write copies the bytes into a buffer and hands full buffers to the
// hashing goroutine, so downloading, decoding and writing do not wait for
// the digest. Bytes are hashed in exactly the order they were written. Sum
// and Reset wait until everything written so far is hashed. It is used by
// one goroutine at a time (remote holds its lock); Close ends the hashing
// goroutine.
type asyncHash struct {
	h    hash.Hash
	cur  []byte      // buffer being filled
	work chan []byte // full buffers, to the hashing goroutine
	free chan []byte // hashed buffers, back
	idle sync.WaitGroup
	done chan struct{}
	stop sync.Once
}

func newAsyncHash(h hash.Hash) *asyncHash {
	a := &asyncHash{h: h, work: make(chan []byte, hashBufs), free: make(chan []byte, hashBufs),
		done: make(chan struct{})}
	for range hashBufs {
		a.free <- make([]byte, 0, hashBufSize)
	}
	go a.loop()
	return a
}

func (a *asyncHash) loop() {
	defer close(a.done)
	for b := range a.work {
		a.h.Write(b)
		a.free <- b[:0]
		a.idle.Done()
	}
}

// Write queues p for hashing; it blocks only while the hashing goroutine is
// hashBufs buffers behind.
func (a *asyncHash) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if a.cur == nil {
			a.cur = <-a.free
		}
		c := min(len(p), cap(a.cur)-len(a.cur))
		a.cur = append(a.cur, p[:c]...)
		p = p[c:]
		if len(a.cur) == cap(a.cur) {
			a.flush()
		}
	}
	return n, nil
}

// flush hands the current buffer to the hashing goroutine.
func (a *asyncHash) flush() {
	if len(a.cur) == 0 {
		return
	}
	a.idle.Add(1)
	a.work <- a.cur
	a.cur = nil
}

// wait returns once every byte written so far is hashed.
func (a *asyncHash) wait() {
	a.flush()
	a.idle.Wait()
}

// Sum returns the digest of everything written (since the last Reset).
func (a *asyncHash) Sum(b []byte) []byte {
	a.wait()
	return a.h.Sum(b)
}

// Reset discards everything written so far.
func (a *asyncHash) Reset() {
	if a.cur != nil {
		a.cur = a.cur[:0]
	}
	a.idle.Wait()
	a.h.Reset()
}

// Close stops the hashing goroutine; the hash is unusable afterwards.
func (a *asyncHash) Close() {
	a.stop.Do(func() {
		a.flush()
		close(a.work)
		<-a.done
	})
}
