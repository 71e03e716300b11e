package http

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/byoi/byoi/boot"
)

// The installer watchdog. An installer reports progress every few seconds
// while it works; one that stops reporting (the machine was reset, lost
// power or its network) would otherwise leave its task in doing forever
// and block every new reinstall of the machine. A task in doing whose last
// agent report (Task.LastUpdate) is older than Config.InstallerTimeout
// becomes ovhError. The machine's boot mode is left as it was, so a
// half-written disk is never booted as if it were installed.
//
// Two paths run the check: Serve starts a goroutine that calls
// CheckInstallers every watchdogInterval, and startInstall checks the
// machine's own active task first, so a new reinstall is accepted at once
// once the old one is stale, even between two scans.

// DefaultInstallerTimeout is Config.InstallerTimeout's default.
const DefaultInstallerTimeout = 15 * time.Minute

// watchdogInterval is how often Serve scans: a tenth of the timeout,
// between one second and one minute.
func watchdogInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/10, time.Second), time.Minute)
}

// stalledMessage is the task message of a task the watchdog ended.
func stalledMessage(last time.Time) string {
	return fmt.Sprintf("Installer stopped reporting (last report at %s)", last.UTC().Format(time.RFC3339))
}

// stalled says whether t is a doing task without a report for longer than
// the timeout, at now.
func (s *Server) stalled(t boot.Task, now time.Time) bool {
	return t.Status == boot.StatusDoing && now.Sub(t.LastUpdate) > s.cfg.InstallerTimeout
}

// CheckInstallers ends every task whose installer stopped reporting and
// returns how many it ended. Serve calls it periodically; it is exported
// for tests and for callers that do not use Serve.
func (s *Server) CheckInstallers(ctx context.Context) (int, error) {
	ts, err := s.st.ActiveTasks(ctx)
	if err != nil {
		return 0, fmt.Errorf("installer watchdog: %w", err)
	}
	n := 0
	for _, t := range ts {
		ended, err := s.expireIfStalled(ctx, t.ID)
		if err != nil {
			return n, err
		}
		if ended {
			n++
		}
	}
	return n, nil
}

// expireIfStalled re-reads task id inside the update transaction (a report
// that arrived meanwhile wins) and ends it if it is still stalled.
func (s *Server) expireIfStalled(ctx context.Context, id int64) (bool, error) {
	now := s.cfg.Now()
	t, ended, err := s.endInstall(ctx, id, func(t boot.Task) (string, bool) {
		return stalledMessage(t.LastUpdate), s.stalled(t, now)
	})
	if !ended || err != nil {
		return false, err
	}
	s.log.Warn("installer stopped reporting", "machine", t.Machine, "task", t.ID, "timeout", s.cfg.InstallerTimeout)
	return true, nil
}

// endInstall ends a running task in ovhError. why is called inside the
// update transaction with the current task: it returns the message and
// whether the task is still to be ended (false: a report won meanwhile, and
// endInstall returns ended false). The step the installer was on gets the
// message too, and an event is appended.
func (s *Server) endInstall(ctx context.Context, id int64, why func(boot.Task) (string, bool)) (boot.Task, bool, error) {
	errFresh := errors.New("not to be ended")
	now := s.cfg.Now()
	t, err := s.st.UpdateTask(ctx, id, func(t *boot.Task) error {
		msg, end := why(*t)
		if !end || !t.Status.Active() {
			return errFresh
		}
		t.Message = msg
		if st := t.Step(firstOpenStep(t)); st != nil {
			st.Status, st.Error, st.Updated = boot.StepError, t.Message, now
		}
		return t.SetStatus(boot.StatusOVHError, now)
	})
	switch {
	case errors.Is(err, errFresh), errors.Is(err, boot.ErrNotFound):
		return t, false, nil
	case err != nil:
		return t, false, fmt.Errorf("ending task %d: %w", id, err)
	}
	s.observeDuration(t)
	s.event(ctx, t.Machine, t.ID, boot.EventTaskError, fmt.Sprintf("%s: %s", t.Status, t.Message))
	return t, true, nil
}

// firstOpenStep is the step the installer was on: the first one in doing,
// else the first one not done; "" when all are done.
func firstOpenStep(t *boot.Task) boot.StepID {
	for _, st := range t.Steps {
		if st.Status == boot.StepDoing {
			return st.ID
		}
	}
	for _, st := range t.Steps {
		if st.Status != boot.StepDone {
			return st.ID
		}
	}
	return ""
}

// runWatchdog calls CheckInstallers every interval until ctx ends.
func (s *Server) runWatchdog(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := s.CheckInstallers(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("installer watchdog", "err", err)
			}
		}
	}
}
