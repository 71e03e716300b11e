package http

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"sort"

	"github.com/byoi/byoi/boot"
)

// Task functions, as OVH names them in dedicated.server.Task.
const (
	functionReinstall = "reinstallServer"
)

// machine returns a registered machine or an error the API can show: OVH's
// 404 wording for unknown (and not yet adopted, discovered) machines.
func (s *Server) machine(ctx context.Context, name string) (boot.Machine, error) {
	m, err := s.st.Machine(ctx, name)
	if errors.Is(err, boot.ErrNotFound) || (err == nil && m.Discovered) {
		return boot.Machine{}, notFoundMachine(name)
	}
	return m, err
}

func notFoundMachine(name string) error {
	return errorf(nethttp.StatusNotFound, "The requested object (serviceName = %s) does not exist", name)
}

// startInstall validates spec and creates a todo task for the machine.
// Nothing is stored when the spec or the machine is refused.
func (s *Server) startInstall(ctx context.Context, name string, spec boot.InstallSpec) (boot.Task, error) {
	m, err := s.machine(ctx, name)
	if err != nil {
		return boot.Task{}, err
	}
	if err := spec.Validate(); err != nil {
		return boot.Task{}, err
	}
	if spec.DiskGroupID != 0 && len(m.DiskGroups) > 0 {
		if _, ok := m.DiskGroups[spec.DiskGroupID]; !ok {
			return boot.Task{}, errorf(nethttp.StatusBadRequest, "Invalid diskGroupId %d: this server has disk groups %v", spec.DiskGroupID, diskGroupIDs(m))
		}
	}
	if active, err := s.st.ActiveTask(ctx, name); err == nil {
		if !s.stalled(active, s.cfg.Now()) {
			return boot.Task{}, activeTaskConflict(name, active.ID)
		}
		if ended, err := s.expireIfStalled(ctx, active.ID); err != nil || !ended {
			return boot.Task{}, cmp.Or(err, activeTaskConflict(name, active.ID))
		}
	} else if !errors.Is(err, boot.ErrNotFound) {
		return boot.Task{}, err
	}
	now := s.cfg.Now()
	t, err := s.st.CreateTask(ctx, boot.Task{
		Machine: name, Function: functionReinstall, Status: boot.StatusTodo,
		Comment: "Installing " + spec.OperatingSystem,
		Spec:    spec, Steps: boot.NewSteps(), Created: now, LastUpdate: now,
	})
	if errors.Is(err, boot.ErrConflict) { // lost a race with another request
		return boot.Task{}, activeTaskConflict(name, 0)
	}
	if err != nil {
		return boot.Task{}, err
	}
	s.log.Info("task created", "machine", name, "task", t.ID, "imageType", spec.ImageType)
	s.event(ctx, name, t.ID, boot.EventTaskCreated, fmt.Sprintf("%s %s (%s)", t.Function, spec.OperatingSystem, spec.ImageType))
	return t, nil
}

func activeTaskConflict(name string, id int64) error {
	if id == 0 {
		return errorf(nethttp.StatusConflict, "An installation is already in progress on server %s", name)
	}
	return errorf(nethttp.StatusConflict, "An installation is already in progress on server %s (task %d): cancel it or wait for it to end", name, id)
}

func diskGroupIDs(m boot.Machine) []int {
	ids := make([]int, 0, len(m.DiskGroups))
	for id := range m.DiskGroups {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// cancelTask moves an active task to cancelled. The machine's boot mode
// does not change.
func (s *Server) cancelTask(ctx context.Context, id int64, why string) (boot.Task, error) {
	t, err := s.st.UpdateTask(ctx, id, func(t *boot.Task) error {
		if !t.Status.Active() {
			return errorf(nethttp.StatusConflict, "Task %d is already %s", t.ID, t.Status)
		}
		t.Message = why
		return t.SetStatus(boot.StatusCancelled, s.cfg.Now())
	})
	if err != nil {
		return boot.Task{}, err
	}
	s.log.Info("task cancelled", "machine", t.Machine, "task", t.ID)
	s.event(ctx, t.Machine, t.ID, boot.EventTaskCancelled, why)
	return t, nil
}

// latestTask is the machine's newest task, or ok=false.
func (s *Server) latestTask(ctx context.Context, name string) (boot.Task, bool, error) {
	ts, err := s.st.Tasks(ctx, name)
	if err != nil || len(ts) == 0 {
		return boot.Task{}, false, err
	}
	return ts[0], true, nil
}

// redact prepares a task for any API response: secrets replaced, token hash gone.
func redact(t boot.Task) boot.Task {
	t.Spec = t.Spec.Redacted()
	t.TokenHash = ""
	return t
}

func redactAll(ts []boot.Task) []boot.Task {
	out := make([]boot.Task, len(ts))
	for i, t := range ts {
		out[i] = redact(t)
	}
	return out
}
