package http

import (
	"fmt"
	nethttp "net/http"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// agentDone ends the task successfully. The machine switches to what it
// boots from now on first, so that a crash in between leaves an active
// task (and a token) the agent can report done with again.
func (s *Server) agentDone(w nethttp.ResponseWriter, r *nethttp.Request, t boot.Task, body []byte) {
	ctx := r.Context()
	var d agentapi.Done
	if !decodeAgent(w, body, &d) {
		return
	}
	mode := d.BootMode
	if mode == boot.BootModeNone {
		mode = boot.BootModeLocal
	}
	efi := d.EFIBootloaderPath
	if t.Spec.EFIBootloaderPath != "" {
		efi = t.Spec.EFIBootloaderPath // the operator's choice wins
	}
	m, err := s.st.UpdateMachine(ctx, t.Machine, func(m *boot.Machine) error {
		m.BootMode, m.EFIBootloaderPath = mode, efi
		return nil
	})
	if err != nil {
		if boot.IsValidation(err) || !isStoreSentinel(err) {
			agentFail(w, nethttp.StatusBadRequest, fmt.Sprintf("invalid boot setup: %v", err))
			return
		}
		s.agentStoreError(w, t, err)
		return
	}
	now := s.cfg.Now()
	t, err = s.st.UpdateTask(ctx, t.ID, func(t *boot.Task) error {
		for i := range t.Steps {
			if t.Steps[i].Status == boot.StepDoing {
				t.Steps[i].Status, t.Steps[i].Updated = boot.StepDone, now
			}
		}
		return t.SetStatus(boot.StatusDone, now)
	})
	if err != nil {
		s.agentStoreError(w, t, err)
		return
	}
	s.observeDuration(t)
	s.log.Info("task done", "machine", t.Machine, "task", t.ID, "disk", d.Disk, "bootMode", m.BootMode)
	s.event(ctx, t.Machine, t.ID, boot.EventTaskDone, fmt.Sprintf("installed on %s", orUnknown(d.Disk)))
	s.event(ctx, t.Machine, t.ID, boot.EventBootMode, fmt.Sprintf("boot mode %q, efiBootloaderPath %q", m.BootMode, m.EFIBootloaderPath))
	w.WriteHeader(nethttp.StatusNoContent)
}

// agentError ends the task in error; the machine's boot mode is untouched.
func (s *Server) agentError(w nethttp.ResponseWriter, r *nethttp.Request, t boot.Task, body []byte) {
	var f agentapi.Failure
	if !decodeAgent(w, body, &f) {
		return
	}
	var status boot.Status
	switch f.Class {
	case agentapi.ClassCustomer:
		status = boot.StatusCustomerError
	case agentapi.ClassInternal:
		status = boot.StatusOVHError
	default:
		agentFail(w, nethttp.StatusBadRequest, fmt.Sprintf("invalid failure class %q: want %q or %q", f.Class, agentapi.ClassCustomer, agentapi.ClassInternal))
		return
	}
	if f.Message == "" || len(f.Message) > 4096 {
		agentFail(w, nethttp.StatusBadRequest, "a failure needs a message of at most 4096 bytes")
		return
	}
	if f.Step != "" && t.Step(f.Step) == nil {
		agentFail(w, nethttp.StatusBadRequest, fmt.Sprintf("unknown step %q", f.Step))
		return
	}
	now := s.cfg.Now()
	t, err := s.st.UpdateTask(r.Context(), t.ID, func(t *boot.Task) error {
		t.Message = f.Message
		if st := t.Step(f.Step); st != nil {
			st.Status, st.Error, st.Updated = boot.StepError, f.Message, now
		}
		return t.SetStatus(status, now)
	})
	if err != nil {
		s.agentStoreError(w, t, err)
		return
	}
	s.observeDuration(t)
	s.log.Info("task failed", "machine", t.Machine, "task", t.ID, "status", t.Status, "step", f.Step, "message", f.Message)
	s.event(r.Context(), t.Machine, t.ID, boot.EventTaskError, fmt.Sprintf("%s: %s", t.Status, f.Message))
	w.WriteHeader(nethttp.StatusNoContent)
}

func orUnknown(s string) string {
	if s == "" {
		return "an unreported disk"
	}
	return s
}
