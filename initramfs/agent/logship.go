package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// logShipper sends a program's output lines to the server's log endpoint
// in batches, in the background, numbering them so that a batch sent again
// is not stored twice; the step's comment shows the latest line. Lines are
// also written to the console log. A server without the endpoint (404) is
// not asked again. At most maxPending lines wait; older ones are dropped
// (and said so) while the server is unreachable.
//
// It is also the step's heartbeat: a program can be silent for many
// minutes (update-initramfs on a slow machine), and the server ends a task
// whose installer stops reporting (its InstallerTimeout, 15 minutes by
// default). Whenever nothing was reported for beat, the step's progress is
// sent again with how long the program has run, whether or not the server
// keeps the lines.
type logShipper struct {
	api    *api
	r      *run
	step   boot.StepID
	stream string
	every  time.Duration
	beat   time.Duration

	started  time.Time
	reported time.Time // last progress sent

	mu       sync.Mutex
	pending  []string
	seq      int64 // index of pending[0]
	dropped  int64
	last     string
	disabled bool
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
}

const maxPending = 4096

// heartbeat is the longest a step's program may run without a progress
// report (a fraction of the server's installer timeout).
const heartbeat = time.Minute

func (r *run) newLogShipper(step boot.StepID, stream string) *logShipper {
	l := &logShipper{api: r.api, r: r, step: step, stream: stream, every: r.env.ProgressEvery, beat: heartbeat,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	return l
}

// line records one line (safe for concurrent use).
func (l *logShipper) line(s string) {
	s = cutLine(s)
	l.r.log.Info(l.stream, "line", s)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = s
	if l.disabled {
		return
	}
	l.pending = append(l.pending, s)
	if len(l.pending) > maxPending {
		n := len(l.pending) - maxPending
		l.pending, l.seq, l.dropped = l.pending[n:], l.seq+int64(n), l.dropped+int64(n)
	}
	if len(l.pending) >= agentapi.MaxLogLines {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// start sends batches until finish.
func (l *logShipper) start(ctx context.Context) {
	l.started = l.api.clock.Now()
	l.reported = l.started
	go func() {
		defer close(l.done)
		t := time.NewTicker(min(l.every, l.beat))
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-l.kick:
			case <-l.stop:
				l.flush(ctx, true)
				return
			case <-ctx.Done():
				return
			}
			l.flush(ctx, false)
			l.heartbeat(ctx)
		}
	}()
}

// heartbeat reports the step again when nothing was reported for beat:
// "make_image_bootable.sh: running for 4m0s; last line: …".
func (l *logShipper) heartbeat(ctx context.Context) {
	now := l.api.clock.Now()
	if now.Sub(l.reported) < l.beat || !l.r.steps[l.step] {
		return
	}
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	c := l.stream + ": running for " + now.Sub(l.started).Round(time.Second).String()
	if last != "" {
		c = comment(c+"; last line", last)
	}
	if err := l.api.ProgressOnce(ctx, agentapi.Progress{Step: l.step, Status: boot.StepDoing, Comment: c}); err != nil {
		l.r.log.Warn("heartbeat failed", "step", l.step, "err", err)
		return
	}
	l.reported = now
}

// flush sends what is pending, in batches of MaxLogLines; final retries a
// failed batch a few times.
func (l *logShipper) flush(ctx context.Context, final bool) {
	for attempt := 0; ; {
		l.mu.Lock()
		if l.disabled || len(l.pending) == 0 {
			l.mu.Unlock()
			return
		}
		n := batchLen(l.pending)
		batch := agentapi.Log{Step: l.step, Seq: l.seq, Lines: append([]string(nil), l.pending[:n]...), Stream: l.stream}
		last := l.last
		l.mu.Unlock()
		err := l.api.do(ctx, http.MethodPost, agentapi.PathLog, batch, nil)
		var perm permanent
		switch {
		case err == nil:
			l.mu.Lock()
			l.pending, l.seq = l.pending[n:], l.seq+int64(n)
			l.mu.Unlock()
			if l.r.steps[l.step] {
				if l.api.ProgressOnce(ctx, agentapi.Progress{Step: l.step, Status: boot.StepDoing, Comment: comment(l.stream, last)}) == nil {
					l.reported = l.api.clock.Now()
				}
			}
			continue
		case errors.Is(err, ErrTokenRejected), errors.As(err, &perm) && strings.Contains(err.Error(), "HTTP 404"):
			l.r.log.Warn("the byoi server takes no more output lines: output only on the console", "path", agentapi.PathLog, "err", err)
			l.mu.Lock()
			l.disabled, l.pending = true, nil
			l.mu.Unlock()
			return
		case errors.As(err, &perm):
			// The server refuses this batch for good (a 4xx): sending it
			// again would block every later line. Skip it, say so.
			l.r.log.Warn("the byoi server refused output lines; skipping them", "err", err, "lines", n)
			l.mu.Lock()
			l.pending, l.seq, l.dropped = l.pending[n:], l.seq+int64(n), l.dropped+int64(n)
			l.mu.Unlock()
			continue
		}
		if attempt++; !final || attempt >= 3 || ctx.Err() != nil {
			l.mu.Lock()
			pending := len(l.pending)
			l.mu.Unlock()
			l.r.log.Warn("sending output lines failed", "err", err, "pending", pending)
			return
		}
		time.Sleep(time.Second)
	}
}

// maxBatchJSON bounds a batch's encoded size: JSON escaping can make a line
// up to six times longer (control characters become \u00XX), and the
// server's body limit for the log route is 2 MiB.
const maxBatchJSON = 1 << 20

// batchLen is how many of the pending lines go in the next batch: at most
// agentapi.MaxLogLines, and at least one, within maxBatchJSON once encoded.
func batchLen(pending []string) int {
	size := 0
	for i, line := range pending {
		if i == agentapi.MaxLogLines {
			return i
		}
		b, _ := json.Marshal(line)
		size += len(b) + 1
		if size > maxBatchJSON && i > 0 {
			return i
		}
	}
	return len(pending)
}

// finish sends the rest and stops.
func (l *logShipper) finish() {
	close(l.stop)
	<-l.done
}

// cutLine makes s valid UTF-8 and, when longer than agentapi.MaxLogLine
// bytes, cuts it at a character boundary and ends it with "…": the server
// refuses a longer line (cutting first and mending the UTF-8 afterwards
// could make a line of up to MaxLogLine+2 bytes).
func cutLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= agentapi.MaxLogLine {
		return s
	}
	cut := agentapi.MaxLogLine - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// comment is a step comment showing a program's latest line.
func comment(stream, last string) string {
	if len(last) > 200 {
		last = last[:200] + "…"
	}
	return stream + ": " + last
}
