package image

import (
	"bytes"
	"sync"
	"time"

	"github.com/byoi/byoi/boot"
)

// zeroGranule is the unit of zero detection: blocks of this size that are
// all zero are not written but zeroed with Target.ZeroRange.
const zeroGranule = 4096

// sparseWriter writes image data to a Target, turning all-zero granules and
// declared-zero extents into coalesced ZeroRange calls, so the target ends up
// equal to the image over its whole virtual size without writing zeros.
type sparseWriter struct {
	t         Target
	imageType string
	zero      []byte

	zeroOff, zeroLen int64 // pending zero run
	written, zeroed  int64
	progress         func(done int64)
	rb               *readBack // told how far the stream is handled, if set
}

func newSparseWriter(t Target, imageType string, progress func(done int64)) *sparseWriter {
	return &sparseWriter{t: t, imageType: imageType, zero: make([]byte, zeroGranule), progress: progress}
}

// writeAt writes p at off, skipping zero granules. Writes are issued per run
// of non-zero granules, so a 1 MiB buffer of data is one WriteAt.
func (w *sparseWriter) writeAt(p []byte, off int64) error {
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
		if _, err := w.t.WriteAt(p[:end], off); err != nil {
			return writeError(w.imageType, err)
		}
		w.written += int64(end)
		p, off = p[end:], off+int64(end)
		w.report(off)
	}
	w.publish(off)
	return nil
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
	if err := w.t.ZeroRange(w.zeroOff, w.zeroLen); err != nil {
		return writeError(w.imageType, err)
	}
	w.zeroed += w.zeroLen
	end := w.zeroOff + w.zeroLen
	w.zeroLen = 0
	w.report(end)
	return nil
}

func (w *sparseWriter) report(done int64) {
	if w.progress != nil {
		w.progress(done)
	}
}

// finish zeroes what is pending and flushes the target.
func (w *sparseWriter) finish() error {
	if err := w.flushZero(); err != nil {
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
