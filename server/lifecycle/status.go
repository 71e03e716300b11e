package lifecycle

import (
	"fmt"
	"time"

	"github.com/byoi/byoi/boot"
)

// setStatus moves t to next, stamping its dates, or returns an error
// wrapping boot.ErrConflict when the transition is not allowed. It is the
// only function that assigns a task's status. A task that ends in error
// marks the step it was on as failed.
func setStatus(t *boot.Task, next boot.Status, now time.Time) error {
	if !t.Status.CanTransition(next) {
		return fmt.Errorf("task %d: cannot go from %s to %s: %w", t.ID, t.Status, next, boot.ErrConflict)
	}
	if next == boot.StatusDoing && t.InstallerStarted.IsZero() {
		t.InstallerStarted = now
	}
	if t.StartDate.IsZero() {
		t.StartDate = now // tasks stored before StartDate was set at creation
	}
	if next.Final() {
		t.DoneDate = now
		if next != boot.StatusDone {
			for i := range t.Steps {
				if t.Steps[i].Status == boot.StepDoing {
					t.Steps[i].Status = boot.StepError
				}
			}
		}
	}
	t.Status = next
	t.LastUpdate = now
	return nil
}

// fail ends an active task in status (an error status) with msg, marking
// the step it was on as failed with the same message.
func fail(t *boot.Task, status boot.Status, step boot.StepID, msg string, now time.Time) error {
	t.Message = msg
	if step == "" {
		step = openStep(t)
	}
	if st := t.Step(step); st != nil {
		st.Status, st.Error, st.Updated = boot.StepError, msg, now
	}
	return setStatus(t, status, now)
}

// openStep is the step the installer was on: the first one in doing, else
// the first one not done; "" when all are done.
func openStep(t *boot.Task) boot.StepID {
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
