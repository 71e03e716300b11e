package lifecycle

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
// report (Task.LastUpdate) is older than Config.InstallerTimeout ends in
// ovhError. The machine's boot mode is left as it was (cleared when the
// installer started), so a half-written disk is never booted.
//
// Two paths run the check: Run calls CheckInstallers every
// WatchdogInterval, and Create checks the machine's own active task first,
// so a new reinstall is accepted once the old one is stale, even between
// two scans.

// WatchdogInterval is how often Run scans for a timeout: a tenth of it,
// between one second and one minute.
func WatchdogInterval(timeout time.Duration) time.Duration {
	return min(max(timeout/10, time.Second), time.Minute)
}

// stalled says whether t is a doing task without a report for longer than
// the timeout, at now.
func (l *Lifecycle) stalled(t boot.Task, now time.Time) bool {
	timeout := l.cfg.InstallerTimeout
	if t.Function != FunctionReinstall {
		timeout = powerTimeout
	}
	return t.Status == boot.StatusDoing && now.Sub(t.LastUpdate) > timeout
}

// CheckInstallers ends every task whose installer stopped reporting and
// returns how many it ended.
func (l *Lifecycle) CheckInstallers(ctx context.Context) (int, error) {
	ts, err := l.st.ActiveTasks(ctx)
	if err != nil {
		return 0, fmt.Errorf("installer watchdog: %w", err)
	}
	n := 0
	for _, t := range ts {
		ended, err := l.expireIfStalled(ctx, t.ID)
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
func (l *Lifecycle) expireIfStalled(ctx context.Context, id int64) (bool, error) {
	now := l.cfg.Now()
	t, _, err := l.st.UpdateTaskMachine(ctx, id, func(t *boot.Task, _ *boot.Machine) error {
		if !l.stalled(*t, now) {
			return errUnchanged
		}
		msg := fmt.Sprintf("Installer stopped reporting (last report at %s)", t.LastUpdate.UTC().Format(time.RFC3339))
		if t.Function != FunctionReinstall {
			msg = fmt.Sprintf("The power action did not report its outcome (started at %s)", t.StartDate.UTC().Format(time.RFC3339))
		}
		return fail(t, boot.StatusOVHError, "", msg, now)
	})
	switch {
	case errors.Is(err, errUnchanged), errors.Is(err, boot.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("ending task %d: %w", id, err)
	}
	l.ended(t)
	l.log.Warn("installer stopped reporting", "machine", t.Machine, "task", t.ID, "timeout", l.cfg.InstallerTimeout)
	l.event(ctx, t.Machine, t.ID, boot.EventTaskError, fmt.Sprintf("%s: %s", t.Status, t.Message))
	return true, nil
}

// Run calls CheckInstallers every WatchdogInterval until ctx ends.
func (l *Lifecycle) Run(ctx context.Context) {
	tick := time.NewTicker(WatchdogInterval(l.cfg.InstallerTimeout))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if _, err := l.CheckInstallers(ctx); err != nil && ctx.Err() == nil {
				l.log.Error("installer watchdog", "err", err)
			}
		}
	}
}
