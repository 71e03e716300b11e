package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// The installer's side of a task. Every call names the installer by the
// hash of its token; the token is checked inside the transaction that
// changes the task, against the task's current token and status, so a
// token replaced or ended a moment earlier can never act.

// Authorize checks, without writing, that hash belongs to an active task:
// the transports call it before reading a request's body, so an unknown
// token costs no more than its headers. Every method below checks again
// inside its transaction.
func (l *Lifecycle) Authorize(ctx context.Context, hash string) error {
	_, err := l.tokenTask(ctx, hash)
	return err
}

// tokenTask is the ID of the active task that holds the token hash, or
// errToken. Callers that change the task check again inside their
// transaction.
func (l *Lifecycle) tokenTask(ctx context.Context, hash string) (int64, error) {
	if hash == "" {
		return 0, errToken
	}
	id, active, err := l.st.TokenTask(ctx, hash)
	switch {
	case errors.Is(err, boot.ErrNotFound):
		return 0, errToken
	case err != nil:
		return 0, fmt.Errorf("task by token: %w", err)
	case !active:
		return 0, errToken
	}
	return id, nil
}

// agentUpdate runs fn on the task of the token hash and its machine, in one
// transaction, after checking that the token is still the task's and the
// task is active.
func (l *Lifecycle) agentUpdate(ctx context.Context, hash string, fn func(*boot.Task, *boot.Machine) error) (boot.Task, boot.Machine, error) {
	id, err := l.tokenTask(ctx, hash)
	if err != nil {
		return boot.Task{}, boot.Machine{}, err
	}
	t, m, err := l.st.UpdateTaskMachine(ctx, id, func(t *boot.Task, m *boot.Machine) error {
		if t.TokenHash != hash || !t.Status.Active() {
			return errToken
		}
		return fn(t, m)
	})
	if errors.Is(err, boot.ErrNotFound) && KindOf(err) == 0 {
		return boot.Task{}, boot.Machine{}, errToken // deleted meanwhile
	}
	return t, m, err
}

// Start hands the installer its task (secrets included) and its machine,
// and marks the task doing. A restarted installer with the same token gets
// the task again. The machine leaves local boot in the same transaction:
// its disk is about to be rewritten, and if the install fails byoi must
// never send it to a half-written disk.
func (l *Lifecycle) Start(ctx context.Context, hash string) (boot.Task, boot.Machine, error) {
	now := l.cfg.Now()
	var was boot.BootMode
	t, m, err := l.agentUpdate(ctx, hash, func(t *boot.Task, m *boot.Machine) error {
		was = m.BootMode
		m.BootMode, m.Rescue = boot.BootModeNone, nil
		if t.Status == boot.StatusDoing {
			t.LastUpdate = now
			return nil
		}
		return setStatus(t, boot.StatusDoing, now)
	})
	if err != nil {
		return t, m, err
	}
	l.log.Info("installer started", "machine", t.Machine, "task", t.ID)
	l.event(ctx, t.Machine, t.ID, boot.EventInstallerUp, "installer fetched its task")
	if was != boot.BootModeNone {
		l.event(ctx, t.Machine, t.ID, boot.EventBootMode, fmt.Sprintf("boot mode %q cleared: task %d is rewriting the disk", was, t.ID))
	}
	return t, m, nil
}

var stepStatuses = map[boot.StepStatus]bool{boot.StepTodo: true, boot.StepDoing: true, boot.StepDone: true, boot.StepError: true}

// Progress records one step's state. The first report of an installer that
// did not fetch its task (an old agent) also starts the task.
func (l *Lifecycle) Progress(ctx context.Context, hash string, p agentapi.Progress) error {
	if !stepStatuses[p.Status] {
		return badReport("invalid step status %q: want todo, doing, done or error", p.Status)
	}
	if p.BytesDone < 0 || p.BytesTotal < 0 || len(p.Comment) > 1024 {
		return badReport("invalid progress: negative byte counts or a comment over 1024 bytes")
	}
	now := l.cfg.Now()
	var changed bool
	var written int64
	t, _, err := l.agentUpdate(ctx, hash, func(t *boot.Task, _ *boot.Machine) error {
		st := t.Step(p.Step)
		if st == nil {
			return badReport("unknown step %q", p.Step)
		}
		if t.Status == boot.StatusTodo {
			if err := setStatus(t, boot.StatusDoing, now); err != nil {
				return err
			}
		}
		changed, written = st.Status != p.Status, 0
		if (p.Step == boot.StepWrite || p.Step == boot.StepCopy) && p.BytesDone > st.BytesDone {
			written = p.BytesDone - st.BytesDone
		}
		st.Status, st.BytesDone, st.BytesTotal, st.Updated = p.Status, p.BytesDone, p.BytesTotal, now
		if p.Comment != "" {
			st.Comment = p.Comment
		}
		t.LastUpdate = now
		return nil
	})
	if err != nil {
		return err
	}
	if written > 0 && l.cfg.OnWritten != nil {
		l.cfg.OnWritten(written)
	}
	if changed {
		st := t.Step(p.Step)
		l.log.Info("step", "machine", t.Machine, "task", t.ID, "step", p.Step, "status", p.Status)
		l.event(ctx, t.Machine, t.ID, boot.EventStep, fmt.Sprintf("%s: %s", st.Comment, p.Status))
	}
	return nil
}

// Finish ends the task successfully and, in the same transaction, sets what
// the machine boots from now on: d.BootMode (local when empty) and the
// operator's efiBootloaderPath, else the one the installer found. A value
// the shared rule refuses is a KindBadReport and changes nothing.
func (l *Lifecycle) Finish(ctx context.Context, hash string, d agentapi.Done) (boot.Task, boot.Machine, error) {
	mode := d.BootMode
	if mode == boot.BootModeNone {
		mode = boot.BootModeLocal
	}
	now := l.cfg.Now()
	t, m, err := l.agentUpdate(ctx, hash, func(t *boot.Task, m *boot.Machine) error {
		efi := d.EFIBootloaderPath
		if t.Spec.EFIBootloaderPath != "" {
			efi = t.Spec.EFIBootloaderPath // the operator's choice wins
		}
		m.BootMode, m.EFIBootloaderPath = mode, efi
		if err := m.Validate(); err != nil {
			return badReport("invalid boot setup: %v", err)
		}
		for i := range t.Steps {
			if t.Steps[i].Status == boot.StepDoing {
				t.Steps[i].Status, t.Steps[i].Updated = boot.StepDone, now
			}
		}
		return setStatus(t, boot.StatusDone, now)
	})
	if err != nil {
		return t, m, err
	}
	l.ended(t)
	disk := d.Disk
	if disk == "" {
		disk = "an unreported disk"
	}
	l.log.Info("task done", "machine", t.Machine, "task", t.ID, "disk", d.Disk, "bootMode", m.BootMode)
	l.event(ctx, t.Machine, t.ID, boot.EventTaskDone, "installed on "+disk)
	how := ""
	if t.Spec.EFIBootloaderPath == "" && m.EFIBootloaderPath != "" {
		how = " (none given: picked by the installer from the image's EFI system partition)"
	}
	l.event(ctx, t.Machine, t.ID, boot.EventBootMode, fmt.Sprintf("boot mode %q, efiBootloaderPath %q%s", m.BootMode, m.EFIBootloaderPath, how))
	return t, m, nil
}

// Fail ends the task in customerError or ovhError (by f.Class) with the
// installer's message; the machine's boot mode is untouched (it left local
// boot when the installer started).
func (l *Lifecycle) Fail(ctx context.Context, hash string, f agentapi.Failure) (boot.Task, error) {
	var status boot.Status
	switch f.Class {
	case agentapi.ClassCustomer:
		status = boot.StatusCustomerError
	case agentapi.ClassInternal:
		status = boot.StatusOVHError
	default:
		return boot.Task{}, badReport("invalid failure class %q: want %q or %q", f.Class, agentapi.ClassCustomer, agentapi.ClassInternal)
	}
	if f.Message == "" || len(f.Message) > 4096 {
		return boot.Task{}, badReport("a failure needs a message of at most 4096 bytes")
	}
	now := l.cfg.Now()
	t, _, err := l.agentUpdate(ctx, hash, func(t *boot.Task, _ *boot.Machine) error {
		if f.Step != "" && t.Step(f.Step) == nil {
			return badReport("unknown step %q", f.Step)
		}
		t.Message = f.Message
		if st := t.Step(f.Step); st != nil {
			st.Status, st.Error, st.Updated = boot.StepError, f.Message, now
		}
		return setStatus(t, status, now)
	})
	if err != nil {
		return t, err
	}
	l.ended(t)
	l.log.Info("task failed", "machine", t.Machine, "task", t.ID, "status", t.Status, "step", f.Step, "message", f.Message)
	l.event(ctx, t.Machine, t.ID, boot.EventTaskError, fmt.Sprintf("%s: %s", t.Status, f.Message))
	return t, nil
}
