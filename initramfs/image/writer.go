package image

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/byoi/byoi/boot"
)

// zeroGranule is the unit of zero detection: blocks of this size that are
// all zero are not written but zeroed with Target.ZeroRange.
const zeroGranule = 4096

// writeDepth is how many data writes are in flight at once on a target
// that writes with O_DIRECT (see directTarget). Such a write returns when
// the device has the data; with a second one already issued the device is
// not idle while the first one's completion travels back and the next one
// is issued. 1 GiB in 1 MiB O_DIRECT writes onto a direct-I/O loop device
// over this machine's virtio disk: 0.33-0.56 s one at a time, 0.20-0.23 s
// two at a time, 0.21-0.22 s four at a time.
const writeDepth = 2

// directTarget is a Target that can say whether its writes wait for the
// device (FileTarget on a block device, unless UsePageCache was called).
type directTarget interface {
	Direct() bool
}

// sparseWriter writes image data to a Target, turning all-zero granules and
// declared-zero extents into coalesced ZeroRange calls, so the target ends up
// equal to the image over its whole virtual size without writing zeros.
//
// Its methods are called from one goroutine. On a direct target without a
// read-back reader, data writes run on their own goroutines, writeDepth at
// a time, and the buffer handed to writeAt is released when they are done.
type sparseWriter struct {
	t         Target
	imageType string
	zero      []byte

	zeroOff, zeroLen int64 // pending zero run
	zeroed           int64
	progress         func(done int64)
	rb               *readBack // told how far the stream is handled, if set

	// slots holds a token per write in flight; nil when writes are made
	// before writeAt returns.
	slots chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	// inflight holds the offsets the writes in flight start at, in the
	// order they were issued.
	inflight []int64
	written  int64
	err      error // the first write that failed
}

func newSparseWriter(t Target, imageType string, progress func(done int64)) *sparseWriter {
	return &sparseWriter{t: t, imageType: imageType, zero: make([]byte, zeroGranule), progress: progress}
}

// overlap makes data writes run writeDepth at a time if the target writes
// with O_DIRECT. Not with a read-back reader: it is told how far the disk
// holds the stream, which the writes' order keeps simple.
func (w *sparseWriter) overlap() {
	if d, ok := w.t.(directTarget); ok && d.Direct() && w.rb == nil {
		w.slots = make(chan struct{}, writeDepth)
	}
}

// bufRef releases a buffer once the writes of it are done.
type bufRef struct {
	n       atomic.Int32
	release func()
}

func (r *bufRef) done() {
	if r.n.Add(-1) == 0 && r.release != nil {
		r.release()
	}
}

// writeAt writes p at off, skipping zero granules. Writes are issued per run
// of non-zero granules, so a 1 MiB buffer of data is one WriteAt. p must not
// change until release (if not nil) is called: before writeAt returns, or
// once the writes of p still in flight are done. A write in flight that
// fails is returned by a later write or zeroing, or by wait and settle.
func (w *sparseWriter) writeAt(p []byte, off int64, release func()) error {
	ref := &bufRef{release: release}
	ref.n.Store(1)
	defer ref.done()
	for len(p) > 0 {
		// the zero run and the data run are granule-aligned in the image
		g := zeroGranule - int(off%zeroGranule)
		g = min(g, len(p))
		if bytes.Equal(p[:g], w.zero[:g]) {
			if err := w.zeroRange(off, int64(g)); err != nil {
				return err
			}
			p, off = p[g:], off+int64(g)
			continue
		}
		end := g
		for end < len(p) {
			n := min(zeroGranule, len(p)-end)
			if bytes.Equal(p[end:end+n], w.zero[:n]) {
				break
			}
			end += n
		}
		if err := w.flushZero(); err != nil {
			return err
		}
		if err := w.write(p[:end], off, ref); err != nil {
			return err
		}
		p, off = p[end:], off+int64(end)
		w.report(w.handled(off))
	}
	w.publish(off)
	return nil
}

// write writes p at off now, or starts it on a goroutine of its own once
// fewer than writeDepth are in flight.
func (w *sparseWriter) write(p []byte, off int64, ref *bufRef) error {
	if w.slots == nil {
		if _, err := w.t.WriteAt(p, off); err != nil {
			return writeError(w.imageType, err)
		}
		w.written += int64(len(p))
		return nil
	}
	w.slots <- struct{}{}
	if err := w.failed(); err != nil {
		<-w.slots
		return err
	}
	ref.n.Add(1)
	w.mu.Lock()
	w.inflight = append(w.inflight, off)
	w.mu.Unlock()
	w.wg.Go(func() {
		_, err := w.t.WriteAt(p, off)
		w.mu.Lock()
		// A failed write stays in inflight: the stream is handled up to
		// its start at most, whatever completes after it.
		if err == nil {
			i := slices.Index(w.inflight, off)
			w.inflight = slices.Delete(w.inflight, i, i+1)
			w.written += int64(len(p))
		} else if w.err == nil {
			w.err = writeError(w.imageType, err)
		}
		w.mu.Unlock()
		ref.done()
		<-w.slots
	})
	return nil
}

// failed returns the error of a write in flight that failed, if any.
func (w *sparseWriter) failed() error {
	if w.slots == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// handled returns how far the target holds the stream, given the caller
// has issued (or zeroed) everything before pos: the start of the earliest
// write still in flight, or pos.
func (w *sparseWriter) handled(pos int64) int64 {
	if w.slots == nil {
		return pos
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.inflight) > 0 {
		return w.inflight[0]
	}
	return pos
}

// wait waits for the writes in flight and returns the first failure, or
// nil. Its caller must not use the target before wait returns.
func (w *sparseWriter) wait() error {
	w.wg.Wait()
	return w.failed()
}

// settle waits for the writes in flight and returns the first that failed,
// or else err: as when writing one at a time, a failed write is what ends
// the install, even if the stream then failed too.
func (w *sparseWriter) settle(err error) error {
	if werr := w.wait(); werr != nil {
		return werr
	}
	return err
}

// publish tells the read-back reader the stream is handled up to end.
func (w *sparseWriter) publish(end int64) {
	if w.rb != nil {
		w.rb.publish(end, w.zeroOff, w.zeroLen)
	}
}

// zeroRange records that [off, off+n) must read as zeros.
func (w *sparseWriter) zeroRange(off, n int64) error {
	if w.zeroLen > 0 && w.zeroOff+w.zeroLen == off {
		w.zeroLen += n
	} else {
		if err := w.flushZero(); err != nil {
			return err
		}
		w.zeroOff, w.zeroLen = off, n
	}
	if w.zeroLen >= 64<<20 {
		return w.flushZero()
	}
	return nil
}

func (w *sparseWriter) flushZero() error {
	if w.zeroLen == 0 {
		return nil
	}
	if err := w.failed(); err != nil {
		return err
	}
	if err := w.t.ZeroRange(w.zeroOff, w.zeroLen); err != nil {
		return writeError(w.imageType, err)
	}
	w.zeroed += w.zeroLen
	end := w.zeroOff + w.zeroLen
	w.zeroLen = 0
	w.report(w.handled(end))
	return nil
}

func (w *sparseWriter) report(done int64) {
	if w.progress != nil {
		w.progress(done)
	}
}

// finish zeroes what is pending, waits for the writes in flight and
// flushes the target.
func (w *sparseWriter) finish() error {
	if err := w.settle(w.flushZero()); err != nil {
		return err
	}
	if err := w.t.Sync(); err != nil {
		return writeError(w.imageType, err)
	}
	return nil
}

// progress rate-limits calls to Options.Progress per step; final calls
// (done == total) always go through.
type progress struct {
	fn   func(step boot.StepID, done, total int64)
	gap  time.Duration
	mu   sync.Mutex
	last map[boot.StepID]time.Time
}

func newProgress(o Options) *progress {
	return &progress{fn: o.Progress, gap: o.ProgressGap, last: make(map[boot.StepID]time.Time)}
}

func (p *progress) report(step boot.StepID, done, total int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if done != total && now.Sub(p.last[step]) < p.gap {
		p.mu.Unlock()
		return
	}
	p.last[step] = now
	p.mu.Unlock()
	p.fn(step, done, total)
}
