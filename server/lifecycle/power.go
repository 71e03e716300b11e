package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/byoi/byoi/boot"
)

// Power is how the lifecycle has machines rebooted (server/powerctl). Both
// methods return at once and act in the background; done, if set, is
// called with the outcome. A machine without a power driver gets a note
// telling the operator to power-cycle it by hand.
type Power interface {
	// Netboot asks for one network boot and power-cycles the machine.
	Netboot(m boot.Machine, why string, done func(error))
	// Cycle power-cycles the machine (a hard reboot).
	Cycle(m boot.Machine, why string, done func(error))
}

// FunctionHardReboot is the task of OVH's POST …/reboot.
const FunctionHardReboot = "hardReboot"

// powerTimeout ends a power task that never reported its outcome (the
// server stopped while the BMC was being retried).
const powerTimeout = 5 * time.Minute

// netboot hands a machine to the power controller for a network boot.
func (l *Lifecycle) netboot(m boot.Machine, why string) {
	if l.cfg.Power != nil {
		l.cfg.Power.Netboot(m, why, nil)
	}
}

// Reboot hard-reboots the machine (OVH's POST …/reboot): a hardReboot task
// in doing until the power controller reports, then done or ovhError.
func (l *Lifecycle) Reboot(ctx context.Context, name string) (boot.Task, error) {
	m, err := l.knownMachine(ctx, name)
	if err != nil {
		return boot.Task{}, err
	}
	if err := l.clearStalled(ctx, name); err != nil {
		return boot.Task{}, err
	}
	now := l.cfg.Now()
	t, err := l.st.CreateTask(ctx, boot.Task{
		Machine: name, Function: FunctionHardReboot, Status: boot.StatusDoing, Comment: "Hard reboot",
		Created: now, StartDate: now, LastUpdate: now,
	})
	if errors.Is(err, boot.ErrConflict) {
		return boot.Task{}, &Error{Kind: KindActive, Machine: name}
	}
	if err != nil {
		return boot.Task{}, err
	}
	l.event(ctx, name, t.ID, boot.EventTaskCreated, "hardReboot")
	if l.cfg.Power == nil {
		l.endPowerTask(t.ID, errors.New("this byoi server has no power control"))
		return t, nil
	}
	l.cfg.Power.Cycle(m, fmt.Sprintf("hardReboot, task %d", t.ID), func(err error) { l.endPowerTask(t.ID, err) })
	return t, nil
}

// endPowerTask ends a power task with the power controller's outcome.
func (l *Lifecycle) endPowerTask(id int64, outcome error) {
	ctx := context.Background()
	now := l.cfg.Now()
	t, _, err := l.st.UpdateTaskMachine(ctx, id, func(t *boot.Task, _ *boot.Machine) error {
		if !t.Status.Active() {
			return errUnchanged
		}
		if outcome != nil {
			return fail(t, boot.StatusOVHError, "", outcome.Error(), now)
		}
		return setStatus(t, boot.StatusDone, now)
	})
	if errors.Is(err, errUnchanged) {
		return
	}
	if err != nil {
		l.log.Error("end power task", "task", id, "err", err)
		return
	}
	l.ended(t)
	kind, msg := boot.EventTaskDone, "hard reboot done"
	if outcome != nil {
		kind, msg = boot.EventTaskError, fmt.Sprintf("%s: %s", t.Status, t.Message)
	}
	l.event(ctx, t.Machine, t.ID, kind, msg)
}

// knownMachine returns a registered, adopted machine, or a lifecycle error.
func (l *Lifecycle) knownMachine(ctx context.Context, name string) (boot.Machine, error) {
	m, err := l.st.Machine(ctx, name)
	switch {
	case errors.Is(err, boot.ErrNotFound):
		return boot.Machine{}, &Error{Kind: KindNoMachine, Machine: name}
	case err != nil:
		return boot.Machine{}, err
	case m.Discovered:
		return boot.Machine{}, &Error{Kind: KindNotAdopted, Machine: name}
	}
	return m, nil
}
