package agent

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// logShipper sends a program's output lines to the server's log endpoint
// in batches, in the background, numbering them so that a batch sent again
// is not stored twice; the step's comment shows the latest line. Lines are
// also written to the console log. A server without the endpoint (404) is
// not asked again. At most maxPending lines wait; older ones are dropped
// (and said so) while the server is unreachable.
type logShipper struct {
	api    *api
	r      *run
	step   boot.StepID
	stream string
	every  time.Duration

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

func (r *run) newLogShipper(step boot.StepID, stream string) *logShipper {
	l := &logShipper{api: r.api, r: r, step: step, stream: stream, every: r.env.ProgressEvery,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	return l
}

// line records one line (safe for concurrent use).
func (l *logShipper) line(s string) {
	if len(s) > agentapi.MaxLogLine {
		s = s[:agentapi.MaxLogLine-len("…")] + "…"
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
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
	go func() {
		defer close(l.done)
		t := time.NewTicker(l.every)
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
		}
	}()
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
		n := min(len(l.pending), agentapi.MaxLogLines)
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
				_ = l.api.ProgressOnce(ctx, agentapi.Progress{Step: l.step, Status: boot.StepDoing, Comment: comment(l.stream, last)})
			}
			continue
		case errors.As(err, &perm) && strings.Contains(err.Error(), "HTTP 404"):
			l.r.log.Warn("the byoi server has no log endpoint: output only on the console", "path", agentapi.PathLog)
			l.mu.Lock()
			l.disabled, l.pending = true, nil
			l.mu.Unlock()
			return
		}
		if attempt++; !final || attempt >= 3 || ctx.Err() != nil {
			l.r.log.Warn("sending output lines failed", "err", err, "pending", len(l.pending))
			return
		}
		time.Sleep(time.Second)
	}
}

// finish sends the rest and stops.
func (l *logShipper) finish() {
	close(l.stop)
	<-l.done
}

// comment is a step comment showing a program's latest line.
func comment(stream, last string) string {
	if len(last) > 200 {
		last = last[:200] + "…"
	}
	return stream + ": " + last
}
