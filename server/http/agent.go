package http

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	nethttp "net/http"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/gorilla/mux"
)

func (s *Server) agentRoutes(r *mux.Router) {
	r.Handle(agentapi.PathTask, s.agentAuthed(s.agentTask)).Methods(nethttp.MethodGet)
	r.Handle(agentapi.PathProgress, s.agentAuthed(s.agentProgress)).Methods(nethttp.MethodPost)
	r.Handle(agentapi.PathDone, s.agentAuthed(s.agentDone)).Methods(nethttp.MethodPost)
	r.Handle(agentapi.PathError, s.agentAuthed(s.agentError)).Methods(nethttp.MethodPost)
}

// agentHandler handles an agent call for the task its token belongs to.
type agentHandler func(w nethttp.ResponseWriter, r *nethttp.Request, t boot.Task, body []byte)

func agentFail(w nethttp.ResponseWriter, status int, msg string) {
	writeJSON(w, status, agentapi.Error{Message: msg})
}

// agentAuthed checks the bearer token: it must hash to the TokenHash of a
// task that is still active. Nothing but the store is consulted, so a
// restarted server accepts an installer that was running before.
func (s *Server) agentAuthed(h agentHandler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		body, err := s.readBody(w, r)
		if err != nil {
			var he *httpError
			errors.As(err, &he)
			agentFail(w, he.status, he.msg)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			agentFail(w, nethttp.StatusUnauthorized, "missing bearer token")
			return
		}
		hash := hashToken(token)
		t, err := s.st.TaskByTokenHash(r.Context(), hash)
		switch {
		case errors.Is(err, boot.ErrNotFound):
			agentFail(w, nethttp.StatusUnauthorized, "invalid or expired token")
			return
		case err != nil:
			s.log.Error("agent token lookup", "err", err)
			agentFail(w, nethttp.StatusInternalServerError, "internal server error")
			return
		}
		if subtle.ConstantTimeCompare([]byte(t.TokenHash), []byte(hash)) != 1 || !t.Status.Active() {
			agentFail(w, nethttp.StatusUnauthorized, "invalid or expired token")
			return
		}
		h(w, r, t, body)
	})
}

// agentTask hands the installer its task, secrets included, and marks the
// task doing.
func (s *Server) agentTask(w nethttp.ResponseWriter, r *nethttp.Request, t boot.Task, _ []byte) {
	ctx := r.Context()
	m, err := s.st.Machine(ctx, t.Machine)
	if err != nil {
		s.agentInternal(w, t, err)
		return
	}
	t, err = s.st.UpdateTask(ctx, t.ID, func(t *boot.Task) error {
		if t.Status == boot.StatusDoing {
			t.LastUpdate = s.cfg.Now() // a restarted installer fetches again
			return nil
		}
		return t.SetStatus(boot.StatusDoing, s.cfg.Now())
	})
	if err != nil {
		s.agentStoreError(w, t, err)
		return
	}
	s.log.Info("installer started", "machine", t.Machine, "task", t.ID)
	s.event(ctx, t.Machine, t.ID, boot.EventInstallerUp, "installer fetched its task")
	if err := s.clearLocalBoot(ctx, t); err != nil {
		s.agentInternal(w, t, err)
		return
	}
	out := agentapi.Task{ID: t.ID, Machine: t.Machine, Spec: t.Spec, Disk: m.Disk}
	if g, ok := m.DiskGroups[t.Spec.DiskGroupID]; ok && t.Spec.DiskGroupID != 0 {
		out.Disk = g
	}
	for _, st := range t.Steps {
		out.Steps = append(out.Steps, st.ID)
	}
	writeJSON(w, nethttp.StatusOK, out)
}

// clearLocalBoot takes an installed machine out of local boot as soon as its
// installer starts: the disk is about to be rewritten, and if the install
// fails (or the installer dies) byoi must never send the machine to a
// half-written disk. The agent's done report sets local boot again.
func (s *Server) clearLocalBoot(ctx context.Context, t boot.Task) error {
	var was boot.BootMode
	_, err := s.st.UpdateMachine(ctx, t.Machine, func(m *boot.Machine) error {
		was = m.BootMode
		m.BootMode = boot.BootModeNone
		return nil
	})
	if err != nil || was == boot.BootModeNone {
		return err
	}
	s.event(ctx, t.Machine, t.ID, boot.EventBootMode,
		fmt.Sprintf("boot mode %q cleared: task %d is rewriting the disk", was, t.ID))
	return nil
}

func (s *Server) agentInternal(w nethttp.ResponseWriter, t boot.Task, err error) {
	s.log.Error("agent call failed", "machine", t.Machine, "task", t.ID, "err", err)
	agentFail(w, nethttp.StatusInternalServerError, "internal server error")
}

// agentStoreError answers a failed task update: a task that ended meanwhile
// is a 409 the agent can act on.
func (s *Server) agentStoreError(w nethttp.ResponseWriter, t boot.Task, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		agentFail(w, he.status, he.msg)
	case errors.Is(err, boot.ErrConflict):
		agentFail(w, nethttp.StatusConflict, fmt.Sprintf("task %d can no longer change: %v", t.ID, err))
	default:
		s.agentInternal(w, t, err)
	}
}

func decodeAgent(w nethttp.ResponseWriter, body []byte, v any) bool {
	if err := decodeStrict(body, v); err != nil {
		var he *httpError
		errors.As(err, &he)
		agentFail(w, he.status, he.msg)
		return false
	}
	return true
}

var stepStatuses = map[boot.StepStatus]bool{boot.StepTodo: true, boot.StepDoing: true, boot.StepDone: true, boot.StepError: true}

func (s *Server) agentProgress(w nethttp.ResponseWriter, r *nethttp.Request, t boot.Task, body []byte) {
	var p agentapi.Progress
	if !decodeAgent(w, body, &p) {
		return
	}
	if t.Step(p.Step) == nil {
		agentFail(w, nethttp.StatusBadRequest, fmt.Sprintf("unknown step %q", p.Step))
		return
	}
	if !stepStatuses[p.Status] {
		agentFail(w, nethttp.StatusBadRequest, fmt.Sprintf("invalid step status %q: want todo, doing, done or error", p.Status))
		return
	}
	if p.BytesDone < 0 || p.BytesTotal < 0 || len(p.Comment) > 1024 {
		agentFail(w, nethttp.StatusBadRequest, "invalid progress: negative byte counts or a comment over 1024 bytes")
		return
	}
	var changed bool
	var written int64
	now := s.cfg.Now()
	updated, err := s.st.UpdateTask(r.Context(), t.ID, func(t *boot.Task) error {
		if t.Status == boot.StatusTodo {
			if err := t.SetStatus(boot.StatusDoing, now); err != nil {
				return err
			}
		}
		st := t.Step(p.Step)
		changed = st.Status != p.Status
		if p.Step == boot.StepWrite && p.BytesDone > st.BytesDone {
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
		s.agentStoreError(w, t, err)
		return
	}
	s.metrics.bytesWritten.Add(float64(written))
	if changed {
		st := updated.Step(p.Step)
		s.log.Info("step", "machine", t.Machine, "task", t.ID, "step", p.Step, "status", p.Status)
		s.event(r.Context(), t.Machine, t.ID, boot.EventStep, fmt.Sprintf("%s: %s", st.Comment, p.Status))
	}
	w.WriteHeader(nethttp.StatusNoContent)
}
