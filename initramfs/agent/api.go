package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/byoi/byoi/boot/agentapi"
)

// ErrTokenRejected: the server refused the installer's token (task
// cancelled, finished, or a stale installer).
var ErrTokenRejected = errors.New("token rejected")

// api talks to the byoi server's agent API.
type api struct {
	cfg    Config
	client *http.Client
	clock  Clock
	log    *slog.Logger
	// retryFor bounds the retries of one call.
	retryFor time.Duration
	// attemptTimeout bounds one HTTP exchange.
	attemptTimeout time.Duration
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// do sends one request and decodes a JSON answer into out (when not nil).
func (a *api) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return permanent{fmt.Errorf("encode %s: %w", path, err)}
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, a.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.cfg.Server+path, body)
	if err != nil {
		return permanent{fmt.Errorf("%s %s: %w", method, path, err)}
	}
	req.Header.Set("Authorization", "Bearer "+a.cfg.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	switch {
	case (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) && a.cfg.Mode == agentapi.ModeRescue:
		return permanent{fmt.Errorf("the byoi server rejected this rescue system's token (%s %s: HTTP %d %s); "+
			"the machine may have left rescue mode or booted again since: %w", method, path, resp.StatusCode, serverMessage(data), ErrTokenRejected)}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return permanent{fmt.Errorf("the byoi server rejected this installer's token for task %s (%s %s: HTTP %d %s); "+
			"the task may have been cancelled or have ended: %w", a.cfg.TaskID, method, path, resp.StatusCode, serverMessage(data), ErrTokenRejected)}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, serverMessage(data))
	case resp.StatusCode >= 300:
		return permanent{fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, serverMessage(data))}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return permanent{fmt.Errorf("%s %s: decode answer: %w", method, path, err)}
		}
	}
	return nil
}

// serverMessage extracts agentapi.Error's message, or a short body excerpt.
func serverMessage(data []byte) string {
	var e agentapi.Error
	if json.Unmarshal(data, &e) == nil && e.Message != "" {
		return e.Message
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// retry runs op until it succeeds, fails permanently, ctx ends or retryFor
// has passed, waiting 1 s, 2 s, 4 s … (at most 30 s) between attempts.
func (a *api) retry(ctx context.Context, what string, op func() error) error {
	deadline := a.clock.Now().Add(a.retryFor)
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := op()
		var p permanent
		if err == nil || errors.As(err, &p) {
			if p.error != nil {
				return p.error
			}
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if !a.clock.Now().Add(wait).Before(deadline) {
			return fmt.Errorf("%s: gave up after %d attempts in %s: %w", what, attempt, a.retryFor, err)
		}
		a.log.Warn("byoi server unreachable, retrying", "op", what, "attempt", attempt, "wait", wait, "err", err)
		if err := a.clock.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// Task fetches the task, retrying while the server is unreachable.
func (a *api) Task(ctx context.Context) (agentapi.Task, error) {
	var t agentapi.Task
	err := a.retry(ctx, "fetch task", func() error { return a.do(ctx, http.MethodGet, agentapi.PathTask, nil, &t) })
	return t, err
}

// Progress reports a step change, retrying for a bounded time.
func (a *api) Progress(ctx context.Context, p agentapi.Progress) error {
	return a.retry(ctx, "report "+string(p.Step), func() error { return a.do(ctx, http.MethodPost, agentapi.PathProgress, p, nil) })
}

// ProgressOnce reports bytes once, without retrying (the next update
// follows soon).
func (a *api) ProgressOnce(ctx context.Context, p agentapi.Progress) error {
	err := a.do(ctx, http.MethodPost, agentapi.PathProgress, p, nil)
	var perm permanent
	if errors.As(err, &perm) {
		return perm.error
	}
	return err
}

// Done ends the task successfully.
func (a *api) Done(ctx context.Context, d agentapi.Done) error {
	return a.retry(ctx, "report done", func() error { return a.do(ctx, http.MethodPost, agentapi.PathDone, d, nil) })
}

// Fail ends the task in error.
func (a *api) Fail(ctx context.Context, f agentapi.Failure) error {
	return a.retry(ctx, "report error", func() error { return a.do(ctx, http.MethodPost, agentapi.PathError, f, nil) })
}

// untilDone runs op until it succeeds, fails permanently or ctx ends,
// waiting 1 s, 2 s, 4 s … (at most 30 s) between attempts: the rescue
// system has nothing better to do than wait for its server.
func (a *api) untilDone(ctx context.Context, what string, op func() error) error {
	wait := time.Second
	for attempt := 1; ; attempt++ {
		err := op()
		var p permanent
		switch {
		case err == nil:
			return nil
		case errors.As(err, &p):
			return p.error
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w", what, err)
		}
		a.log.Warn("byoi server unreachable, retrying", "op", what, "attempt", attempt, "wait", wait, "err", err)
		if err := a.clock.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// Rescue fetches the rescue configuration, waiting for the server as long
// as it takes.
func (a *api) Rescue(ctx context.Context) (agentapi.Rescue, error) {
	var r agentapi.Rescue
	err := a.untilDone(ctx, "fetch the rescue configuration", func() error {
		return a.do(ctx, http.MethodGet, agentapi.PathRescue, nil, &r)
	})
	return r, err
}

// RescueReady reports the SSH server's addresses and host keys, waiting
// for the server as long as it takes.
func (a *api) RescueReady(ctx context.Context, r agentapi.RescueReady) error {
	return a.untilDone(ctx, "report the rescue system ready", func() error {
		return a.do(ctx, http.MethodPost, agentapi.PathRescueReady, r, nil)
	})
}
