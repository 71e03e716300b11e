package agent

import (
	"context"
	"sync"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// reporter sends the byte counts of running steps to the server in the
// background, coalesced, at most once per interval per step, so that a
// slow or absent server never slows the disk write. Status changes are
// not its business: Run sends them synchronously, after stopping it.
type reporter struct {
	api      *api
	interval time.Duration
	comments map[boot.StepID]string // comment to attach per step
	wanted   func(boot.StepID) bool

	mu     sync.Mutex
	latest map[boot.StepID]agentapi.Progress
	dirty  map[boot.StepID]bool
	order  []boot.StepID // first-seen order, for a stable send order

	stop func()
	done chan struct{}
}

func newReporter(a *api, interval time.Duration, wanted func(boot.StepID) bool, comments map[boot.StepID]string) *reporter {
	return &reporter{api: a, interval: interval, wanted: wanted, comments: comments,
		latest: map[boot.StepID]agentapi.Progress{}, dirty: map[boot.StepID]bool{}}
}

// update records a step's byte counts (the image package's Progress hook).
func (r *reporter) update(step boot.StepID, done, total int64) {
	if !r.wanted(step) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.latest[step]; !ok {
		r.order = append(r.order, step)
	}
	r.latest[step] = agentapi.Progress{Step: step, Status: boot.StepDoing, BytesDone: done, BytesTotal: total, Comment: r.comments[step]}
	r.dirty[step] = true
}

// last returns the latest counts seen for a step.
func (r *reporter) last(step boot.StepID) (agentapi.Progress, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.latest[step]
	return p, ok
}

// start runs the sender until stopped.
func (r *reporter) start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	r.stop = cancel
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		t := time.NewTicker(r.interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.flush(ctx)
			}
		}
	}()
}

// flush sends every step changed since the last flush, once each.
func (r *reporter) flush(ctx context.Context) {
	r.mu.Lock()
	var send []agentapi.Progress
	for _, s := range r.order {
		if r.dirty[s] {
			send = append(send, r.latest[s])
			r.dirty[s] = false
		}
	}
	r.mu.Unlock()
	for _, p := range send {
		if err := r.api.ProgressOnce(ctx, p); err != nil && ctx.Err() == nil {
			r.api.log.Warn("progress report failed", "step", p.Step, "err", err)
		}
	}
}

// finish stops the sender and waits for an in-flight report to end, so
// nothing it sends can arrive after the status change that follows.
func (r *reporter) finish() {
	if r.stop == nil {
		return
	}
	r.stop()
	<-r.done
}
