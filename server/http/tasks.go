package http

import (
	"context"
	"errors"
	"fmt"
	nethttp "net/http"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/lifecycle"
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
	return errorf(nethttp.StatusNotFound, "The requested object (serviceName = %s) does not exist", boot.Clip(name))
}

// lifecycleError phrases a refused lifecycle operation for the API, with
// OVH's wording where OVH has one. ok is false for other errors.
func lifecycleError(err error) (he *httpError, ok bool) {
	var e *lifecycle.Error
	if !errors.As(err, &e) {
		return nil, false
	}
	switch e.Kind {
	case lifecycle.KindNoMachine:
		return notFoundMachine(e.Machine).(*httpError), true
	case lifecycle.KindNotAdopted:
		return &httpError{nethttp.StatusConflict, fmt.Sprintf("Machine %s was discovered and is not adopted yet: give it a name first (adopt it)", boot.Clip(e.Machine))}, true
	case lifecycle.KindActive:
		if e.TaskID == 0 {
			return &httpError{nethttp.StatusConflict, fmt.Sprintf("An installation is already in progress on server %s", e.Machine)}, true
		}
		return &httpError{nethttp.StatusConflict, fmt.Sprintf("An installation is already in progress on server %s (task %d): cancel it or wait for it to end", e.Machine, e.TaskID)}, true
	case lifecycle.KindBadDiskGroup:
		return &httpError{nethttp.StatusBadRequest, fmt.Sprintf("Invalid diskGroupId %d: this server has disk groups %v", e.DiskGroup, e.DiskGroups)}, true
	case lifecycle.KindNoTask:
		return &httpError{nethttp.StatusNotFound, fmt.Sprintf("The requested object (taskId = %d) does not exist", e.TaskID)}, true
	case lifecycle.KindTaskEnded:
		return &httpError{nethttp.StatusConflict, fmt.Sprintf("Task %d is already %s", e.TaskID, e.Status)}, true
	}
	return nil, false
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
