package image

import (
	"io"
)

// The reads of the remote file: straight from the stream, from the block
// cache, or fetched again (see remote).

// ReadAt implements io.ReaderAt over the remote file.
func (r *remote) ReadAt(p []byte, off int64) (int, error) { return r.readAt(p, off, false) }

// readRun reads an uncompressed qcow2 run: clusters do not overlap, so no
// later read starts in its last whole block, which is read straight from
// the stream like the others (see direct) instead of through the cache.
func (r *remote) readRun(p []byte, off int64) (int, error) { return r.readAt(p, off, true) }

// sequential returns a reader of the file from off on, for a consumer that
// never reads backwards (raw images): its long reads bypass the cache,
// which from then on keeps only a few blocks (the memory goes to the
// decompressors).
func (r *remote) sequential(off int64) io.Reader {
	r.mu.Lock()
	r.keep = seqCacheBlocks
	r.evict()
	r.mu.Unlock()
	return &seqReader{r: r, off: off}
}

// seqCacheBlocks is the cache of a file read sequentially.
const seqCacheBlocks = 4

type seqReader struct {
	r   *remote
	off int64
}

func (s *seqReader) Read(p []byte) (int, error) {
	n, err := s.r.readAt(p, s.off, true)
	s.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// readAt reads p at off: whole blocks at the stream's position straight
// from the stream (see direct), the rest through the cache.
func (r *remote) readAt(p []byte, off int64, seq bool) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for len(p) > 0 {
		if off < 0 || (r.f.size >= 0 && off >= r.f.size) {
			return n, io.EOF
		}
		idx := off / blockSize
		if d := r.direct(p, off, seq); d > 0 {
			n += d
			p = p[d:]
			off += int64(d)
			continue
		} else if d < 0 {
			return n, r.failure()
		}
		data, err := r.block(idx)
		if err != nil {
			return n, err
		}
		i := off - idx*blockSize
		if i >= int64(len(data)) {
			return n, io.EOF
		}
		c := copy(p, data[i:])
		n += c
		p = p[c:]
		off += int64(c)
		if len(data) < blockSize && len(p) > 0 {
			return n, io.EOF
		}
	}
	return n, nil
}

// direct reads whole blocks of p straight from the stream, bypassing the
// cache, when off is the stream's (block-aligned) position: the long
// sequential reads of raw images and qcow2 data runs cost one copy instead
// of two. Those blocks are not cached: a later read of one is a re-fetch.
// Random reads (seq false) keep the block holding their last byte cached,
// as the next read may start in it (qcow2 compressed clusters share
// sectors). It returns the bytes read, 0 when it does not apply (or at the
// end of the file) and -1 on a failure (in r.failed).
func (r *remote) direct(p []byte, off int64, seq bool) int {
	if off != r.pos || r.eof || off%blockSize != 0 || len(p) < blockSize {
		return 0
	}
	if _, ok := r.cache[off/blockSize]; ok {
		return 0
	}
	n := len(p) / blockSize * blockSize
	if !seq {
		n = (len(p) - 1) / blockSize * blockSize
	}
	if n == 0 {
		return 0
	}
	if r.f.size >= 0 {
		n = int(min(int64(n), r.f.size-off))
	}
	m, err := r.readStream(p[:n])
	if err != nil {
		return -1
	}
	return m
}

// block returns block idx from the cache, the stream or a re-fetch.
func (r *remote) block(idx int64) ([]byte, error) {
	if el, ok := r.cache[idx]; ok {
		r.lru.MoveToFront(el)
		return el.Value.(*block).data, nil
	}
	if idx*blockSize < r.pos || (r.eof && idx*blockSize >= r.pos) {
		if r.eof && idx*blockSize >= r.pos {
			return nil, io.EOF
		}
		return r.fetchBehind(idx)
	}
	for {
		at := r.pos / blockSize
		buf := r.alloc()
		n, err := r.readStream(buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			r.free = append(r.free, buf)
			return nil, io.EOF
		}
		r.put(at, buf[:n])
		if at == idx {
			return buf[:n], nil
		}
	}
}

// fetchBehind re-reads a block the stream has already passed.
func (r *remote) fetchBehind(idx int64) ([]byte, error) {
	r.backFetches++
	r.f.o.Logger.Debug("re-fetching a block behind the stream", "offset", idx*blockSize, "stream", r.pos)
	start := idx * blockSize
	end := start + blockSize
	if r.f.size >= 0 {
		end = min(end, r.f.size)
	}
	buf := r.alloc()[:end-start]
	if !r.f.noRange.Load() {
		err := r.f.retry(r.ctx, "range", func() error {
			body, restarted, err := r.f.get(r.ctx, start, end)
			if err != nil {
				return err
			}
			if restarted { // no Range after all: use the side stream
				body.Close()
				return nil
			}
			defer body.Close()
			_, err = io.ReadFull(body, buf)
			return err
		})
		if err != nil {
			return nil, r.fail(err)
		}
		if !r.f.noRange.Load() {
			r.put(idx, buf)
			return buf, nil
		}
	}
	if err := r.f.retry(r.ctx, "reread", func() error { return r.sideRead(buf, start) }); err != nil {
		return nil, r.fail(err)
	}
	r.put(idx, buf)
	return buf, nil
}

// sideRead reads buf at off from a second whole-file stream, reopened from
// the start when off is behind it.
func (r *remote) sideRead(buf []byte, off int64) error {
	if r.side != nil && r.sidePos > off {
		r.side.Close()
		r.side = nil
	}
	if r.side == nil {
		body, _, err := r.f.get(r.ctx, 0, -1)
		if err != nil {
			return err
		}
		r.side, r.sidePos = body, 0
	}
	if _, err := io.CopyN(io.Discard, r.side, off-r.sidePos); err != nil {
		r.side.Close()
		r.side = nil
		return err
	}
	r.sidePos = off
	n, err := io.ReadFull(r.side, buf)
	r.sidePos += int64(n)
	if err != nil {
		r.side.Close()
		r.side = nil
	}
	return err
}

func (r *remote) alloc() []byte {
	if n := len(r.free); n > 0 {
		b := r.free[n-1]
		r.free = r.free[:n-1]
		return b[:blockSize]
	}
	return make([]byte, blockSize)
}

func (r *remote) put(idx int64, data []byte) {
	r.cache[idx] = r.lru.PushFront(&block{idx, data})
	r.evict()
}

// evict drops the least recently used blocks beyond r.keep; their memory
// is reused up to r.keep blocks, and left to the collector beyond.
func (r *remote) evict() {
	for r.lru.Len() > r.keep {
		old := r.lru.Remove(r.lru.Back()).(*block)
		delete(r.cache, old.idx)
		if len(r.free) < r.keep {
			r.free = append(r.free, old.data[:cap(old.data)])
		}
	}
}
