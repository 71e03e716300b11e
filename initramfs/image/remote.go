package image

import (
	"container/list"
	"context"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sync"
)

// Block cache geometry: 32 blocks of 256 KiB keep 8 MiB of the file.
const (
	blockSize   = 256 << 10
	cacheBlocks = 32
)

// remote is the image file on the HTTP server, read through one sequential
// stream that hashes every byte in file order, plus a small LRU cache of
// blocks. ReadAt serves blocks from the cache, advances the stream for blocks
// ahead of it (hashing what it passes), and fetches blocks behind it with a
// Range request (or, on a server without Range, a second sequential stream).
// finish drains the stream, so the digest always covers exactly the file.
type remote struct {
	ctx context.Context
	f   *fetcher

	mu       sync.Mutex
	stream   io.ReadCloser
	pos      int64 // file bytes read from the stream and hashed
	eof      bool
	h        *asyncHash // hashes on its own goroutine; nil: no checksum asked
	progress func(done, total int64)

	cache   map[int64]*list.Element
	lru     list.List // of *block, most recent first
	free    [][]byte
	side    io.ReadCloser // no-Range fallback stream
	sidePos int64

	failed      error // the last download failure, for error classification
	backFetches int64 // blocks fetched again because they were behind the stream
	starved     int   // requests aborted as stalled or too slow since the last healthy one
}

type block struct {
	idx  int64
	data []byte
}

// openRemote sends the first GET; its error is a download error. A nil h
// hashes nothing and finish then returns an empty digest.
func openRemote(ctx context.Context, f *fetcher, h hash.Hash, progress func(done, total int64)) (*remote, error) {
	r := &remote{ctx: ctx, f: f, progress: progress, cache: make(map[int64]*list.Element)}
	if h != nil {
		r.h = newAsyncHash(h)
	}
	if err := r.reopen(); err != nil {
		r.closeHash()
		return nil, err
	}
	return r, nil
}

// failure returns the download failure behind the last failed read.
func (r *remote) failure() error { return r.failed }

// hashSink is where the stream's bytes go to be hashed: the hash, or
// io.Discard when no checksum was asked.
func (r *remote) hashSink() io.Writer {
	if r.h == nil {
		return io.Discard
	}
	return r.h
}

func (r *remote) closeHash() {
	if r.h != nil {
		r.h.Close()
	}
}

// Size returns the file size, -1 if unknown.
func (r *remote) Size() int64 { return r.f.size }

// reopen (re)starts the hashing stream at r.pos.
func (r *remote) reopen() error {
	return r.f.retry(r.ctx, "get", func() error {
		body, restarted, err := r.f.get(r.ctx, r.pos, -1)
		if err != nil {
			return err
		}
		if restarted && r.pos > 0 { // no Range: hash the start again
			if r.h != nil {
				r.h.Reset()
			}
			if _, err := io.CopyN(r.hashSink(), body, r.pos); err != nil {
				body.Close()
				if starving(err) {
					// Not retried here: readStream counts it with the
					// other starved requests, against the same budget.
					if sb, ok := body.(*stallBody); ok && sb.healthy.Load() {
						r.starved = 0
					}
					return permanentError{err}
				}
				return err
			}
		}
		r.stream = body
		return nil
	})
}

// readStream fills buf from the hashing stream, resuming after failures.
// It returns less than len(buf) only at the end of the file or on error.
func (r *remote) readStream(buf []byte) (int, error) {
	n, failures := 0, 0
	for n < len(buf) && !r.eof {
		if r.f.size >= 0 && r.pos >= r.f.size {
			r.eof = true
			break
		}
		if r.stream == nil {
			if err := r.reopen(); err != nil {
				if !starving(err) || r.ctx.Err() != nil {
					r.failed = err
					return n, err
				}
				// The resumed request starved while skipping to r.pos.
				if r.starved++; r.starved > r.f.o.Retries {
					r.failed = err
					return n, err
				}
				r.f.o.Logger.Info("download interrupted, resuming", "offset", r.pos, "err", err)
				continue
			}
		}
		m, err := r.stream.Read(buf[n:])
		if r.h != nil {
			r.h.Write(buf[n : n+m])
		}
		n += m
		r.pos += int64(m)
		if m > 0 {
			failures = 0
		}
		if err == io.EOF {
			if r.f.size < 0 || r.pos == r.f.size {
				r.eof = true
				break
			}
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			if sb, ok := r.stream.(*stallBody); ok && sb.healthy.Load() {
				r.starved = 0
			}
			r.stream.Close()
			r.stream = nil
			if r.ctx.Err() != nil {
				r.failed = r.ctx.Err()
				return n, r.ctx.Err()
			}
			if starving(err) {
				// Bytes that trickled in are not progress: count the
				// requests that starved since the last healthy one.
				r.starved++
				failures = r.starved - 1
			}
			if failures++; failures > r.f.o.Retries {
				r.failed = err
				return n, err
			}
			r.f.o.Logger.Info("download interrupted, resuming", "offset", r.pos, "err", err)
		}
	}
	if r.progress != nil {
		r.progress(r.pos, r.f.size)
	}
	return n, nil
}

// starving says whether err ended a request that stalled or was too slow.
func starving(err error) bool {
	return errors.Is(err, errTooSlow) || errors.Is(err, errStalled)
}

// ReadAt implements io.ReaderAt over the remote file.
func (r *remote) ReadAt(p []byte, off int64) (int, error) { return r.readAt(p, off, false) }

// sequential returns a reader of the file from off on, for a consumer that
// never reads backwards (raw images): its long reads bypass the cache.
func (r *remote) sequential(off int64) io.Reader { return &seqReader{r: r, off: off} }

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
			return n, r.failed
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
			r.failed = err
			return nil, err
		}
		if !r.f.noRange.Load() {
			r.put(idx, buf)
			return buf, nil
		}
	}
	if err := r.f.retry(r.ctx, "reread", func() error { return r.sideRead(buf, start) }); err != nil {
		r.failed = err
		return nil, err
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
	for r.lru.Len() > cacheBlocks {
		old := r.lru.Remove(r.lru.Back()).(*block)
		delete(r.cache, old.idx)
		r.free = append(r.free, old.data[:cap(old.data)])
	}
}

// finish reads the rest of the file through the hash and returns its digest
// ("" without a hash) and the file's size.
func (r *remote) finish() (string, int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	buf := r.alloc()
	defer func() { r.free = append(r.free, buf) }()
	for !r.eof {
		n, err := r.readStream(buf)
		if err != nil {
			return "", r.pos, err
		}
		if n == 0 {
			break
		}
	}
	if r.f.size >= 0 && r.pos != r.f.size {
		return "", r.pos, errors.New("download ended early")
	}
	if r.h == nil {
		return "", r.pos, nil
	}
	return hex.EncodeToString(r.h.Sum(nil)), r.pos, nil
}

// Close ends any open request.
func (r *remote) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream != nil {
		r.stream.Close()
		r.stream = nil
	}
	if r.side != nil {
		r.side.Close()
		r.side = nil
	}
	r.closeHash()
	return nil
}
