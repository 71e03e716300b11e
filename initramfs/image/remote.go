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

// Block cache geometry: 128 blocks of 64 KiB keep 8 MiB of the file. A
// block is the default qcow2 cluster, so cluster-aligned reads at the
// stream position go straight from the socket (see direct).
const (
	blockSize   = 64 << 10
	cacheBlocks = 128
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
	keep    int       // blocks the cache keeps
	free    [][]byte
	side    io.ReadCloser // no-Range fallback stream
	sidePos int64

	// failed is the last download failure, for error classification. It
	// has its own lock: failure is called while a read-ahead goroutine may
	// hold mu in a blocking read.
	failMu      sync.Mutex
	failed      error
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
	r := &remote{ctx: ctx, f: f, progress: progress, cache: make(map[int64]*list.Element), keep: cacheBlocks}
	if h != nil {
		r.h = newAsyncHash(h)
	}
	if err := r.reopen(); err != nil {
		r.closeHash()
		return nil, err
	}
	return r, nil
}

// refetched returns the number of blocks fetched again.
func (r *remote) refetched() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.backFetches
}

// failure returns the download failure behind the last failed read.
func (r *remote) failure() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.failed
}

// fail records err as the download failure behind a failed read and
// returns it.
func (r *remote) fail(err error) error {
	r.failMu.Lock()
	r.failed = err
	r.failMu.Unlock()
	return err
}

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
					return n, r.fail(err)
				}
				// The resumed request starved while skipping to r.pos.
				if r.starved++; r.starved > r.f.o.Retries {
					return n, r.fail(err)
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
				return n, r.fail(r.ctx.Err())
			}
			if starving(err) {
				// Bytes that trickled in are not progress: count the
				// requests that starved since the last healthy one.
				r.starved++
				failures = r.starved - 1
			}
			if failures++; failures > r.f.o.Retries {
				return n, r.fail(err)
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
