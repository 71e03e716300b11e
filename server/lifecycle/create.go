package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/byoi/byoi/boot"
)

// Create validates spec and creates a todo task for the machine called
// name, then has the machine network-booted (Config.Power). Nothing is
// stored when the spec or the machine is refused. A
// machine whose active task's installer stopped reporting has that task
// ended first (as the watchdog would), so a new reinstall is accepted at
// once.
func (l *Lifecycle) Create(ctx context.Context, name string, spec boot.InstallSpec, function string) (boot.Task, error) {
	m, err := l.knownMachine(ctx, name)
	if err != nil {
		return boot.Task{}, err
	}
	if err := spec.Validate(); err != nil {
		return boot.Task{}, err
	}
	if err := spec.CheckMachine(m); err != nil {
		return boot.Task{}, err
	}
	if spec.DiskGroupID != 0 && len(m.DiskGroups) > 0 {
		if _, ok := m.DiskGroups[spec.DiskGroupID]; !ok {
			return boot.Task{}, &Error{Kind: KindBadDiskGroup, Machine: name, DiskGroup: spec.DiskGroupID, DiskGroups: diskGroupIDs(m)}
		}
	}
	if err := l.clearStalled(ctx, name); err != nil {
		return boot.Task{}, err
	}
	if function == "" {
		function = FunctionReinstall
	}
	now := l.cfg.Now()
	t, err := l.st.CreateTask(ctx, boot.Task{
		Machine: name, Function: function, Status: boot.StatusTodo,
		Comment: "Installing " + spec.OperatingSystem,
		Spec:    spec, Steps: boot.NewStepsFor(spec.OperatingSystem), Created: now, StartDate: now, LastUpdate: now,
	})
	if errors.Is(err, boot.ErrConflict) { // lost a race with another request
		return boot.Task{}, &Error{Kind: KindActive, Machine: name}
	}
	if err != nil {
		return boot.Task{}, err
	}
	l.log.Info("task created", "machine", name, "task", t.ID, "imageType", spec.ImageType)
	l.event(ctx, name, t.ID, boot.EventTaskCreated, fmt.Sprintf("%s %s (%s)", t.Function, spec.OperatingSystem, spec.ImageType))
	l.netboot(m, fmt.Sprintf("reinstall, task %d", t.ID))
	return t, nil
}

// clearStalled refuses a machine with a live active task and ends a stalled
// one.
func (l *Lifecycle) clearStalled(ctx context.Context, name string) error {
	active, err := l.st.ActiveTask(ctx, name)
	switch {
	case errors.Is(err, boot.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	if !l.stalled(active, l.cfg.Now()) {
		return &Error{Kind: KindActive, Machine: name, TaskID: active.ID}
	}
	ended, err := l.expireIfStalled(ctx, active.ID)
	if err != nil {
		return err
	}
	if !ended {
		return &Error{Kind: KindActive, Machine: name, TaskID: active.ID}
	}
	return nil
}

func diskGroupIDs(m boot.Machine) []int {
	ids := make([]int, 0, len(m.DiskGroups))
	for id := range m.DiskGroups {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// Cancel moves an active task to cancelled, with why as its message. The
// machine's boot mode does not change.
func (l *Lifecycle) Cancel(ctx context.Context, id int64, why string) (boot.Task, error) {
	t, _, err := l.st.UpdateTaskMachine(ctx, id, func(t *boot.Task, _ *boot.Machine) error {
		if !t.Status.Active() {
			return &Error{Kind: KindTaskEnded, TaskID: t.ID, Machine: t.Machine, Status: t.Status}
		}
		t.Message = why
		return setStatus(t, boot.StatusCancelled, l.cfg.Now())
	})
	if errors.Is(err, boot.ErrNotFound) && KindOf(err) == 0 {
		return boot.Task{}, &Error{Kind: KindNoTask, TaskID: id}
	}
	if err != nil {
		return boot.Task{}, err
	}
	l.ended(t)
	l.log.Info("task cancelled", "machine", t.Machine, "task", t.ID)
	l.event(ctx, t.Machine, t.ID, boot.EventTaskCancelled, why)
	return t, nil
}

// CancelActive cancels the machine's active task, if it has one, and
// returns it (ok false when there was none).
func (l *Lifecycle) CancelActive(ctx context.Context, name, why string) (boot.Task, bool, error) {
	t, err := l.st.ActiveTask(ctx, name)
	switch {
	case errors.Is(err, boot.ErrNotFound):
		return boot.Task{}, false, nil
	case err != nil:
		return boot.Task{}, false, err
	}
	t, err = l.Cancel(ctx, t.ID, why)
	if KindOf(err) == KindTaskEnded { // it ended meanwhile: nothing to cancel
		return boot.Task{}, false, nil
	}
	return t, err == nil, err
}
