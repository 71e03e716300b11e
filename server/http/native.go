package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"strconv"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/server/web"
	"github.com/gorilla/mux"
)

func (s *Server) nativeRoutes(r *mux.Router) {
	routes := []struct {
		method, path string
		h            bodyHandler
	}{
		{nethttp.MethodGet, "/machines", s.listMachines},
		{nethttp.MethodPost, "/machines", s.createMachine},
		{nethttp.MethodGet, "/machines/{name}", s.getMachine},
		{nethttp.MethodPut, "/machines/{name}", s.putMachine},
		{nethttp.MethodPatch, "/machines/{name}", s.patchMachine},
		{nethttp.MethodDelete, "/machines/{name}", s.deleteMachine},
		{nethttp.MethodPost, "/machines/{name}/tasks", s.createTask},
		{nethttp.MethodGet, "/machines/{name}/tasks", s.listTasks},
		{nethttp.MethodGet, "/machines/{name}/log", s.getMachineLog},
		{nethttp.MethodGet, "/tasks", s.listAllTasks},
		{nethttp.MethodGet, "/tasks/{id}", s.getTask},
		{nethttp.MethodGet, "/tasks/{id}/log", s.getTaskLog},
		{nethttp.MethodPost, "/tasks/{id}/cancel", s.cancelTaskHandler},
	}
	for _, rt := range routes {
		r.Handle(rt.path, s.authed(rt.h)).Methods(rt.method)
	}
	s.powerRoutes(r)
	if s.cfg.Credentials != nil {
		h := s.authed(delegate(s.cfg.Credentials))
		r.Handle("/credentials", h)
		r.PathPrefix("/credentials/").Handler(h)
	}
	if s.cfg.Keys != nil {
		h := s.authed(delegate(s.cfg.Keys))
		r.Handle("/keys", h)
		r.PathPrefix("/keys/").Handler(h)
	}
}

// listMachines answers every machine with its state, its active (else
// latest) task in short and, with power control, its power state.
func (s *Server) listMachines(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	ms, err := web.Summarize(r.Context(), s.st, s.webPower())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, ms)
}

// machineInput is what an operator may set on a machine.
type machineInput struct {
	Name              string                 `json:"serviceName"`
	MACs              []string               `json:"macs"`
	IPv4              string                 `json:"ipv4"`
	Disk              boot.DiskHints         `json:"disk"`
	DiskGroups        map[int]boot.DiskHints `json:"diskGroups"`
	BootMode          boot.BootMode          `json:"bootMode"`
	EFIBootloaderPath string                 `json:"efiBootloaderPath"`
	// What OVH's API shows of the machine (0 and "": derived, server-wide).
	ServerID         int64  `json:"serverId"`
	Datacenter       string `json:"datacenter"`
	Rack             string `json:"rack"`
	Region           string `json:"region"`
	AvailabilityZone string `json:"availabilityZone"`
}

func (in machineInput) apply(m *boot.Machine) {
	m.Name, m.MACs, m.IPv4, m.Disk, m.DiskGroups = in.Name, in.MACs, in.IPv4, in.Disk, in.DiskGroups
	m.BootMode, m.EFIBootloaderPath = in.BootMode, in.EFIBootloaderPath
	m.ServerID, m.Datacenter, m.Rack, m.Region, m.AvailabilityZone = in.ServerID, in.Datacenter, in.Rack, in.Region, in.AvailabilityZone
}

// machineError turns a store error about a machine into an API error:
// sentinels keep their status, anything else from validation is a 400.
func machineError(err error) error {
	if err == nil || errors.Is(err, boot.ErrNotFound) || errors.Is(err, boot.ErrConflict) {
		return err
	}
	var he *httpError
	if errors.As(err, &he) {
		return err
	}
	return errorf(nethttp.StatusBadRequest, "%s", err.Error())
}

func (s *Server) createMachine(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	var in machineInput
	if err := decodeStrict(body, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	var m boot.Machine
	in.apply(&m)
	m.Created = s.cfg.Now()
	if err := m.Validate(); err != nil {
		s.fail(w, r, errorf(nethttp.StatusBadRequest, "%s", err.Error()))
		return
	}
	m, err := s.st.CreateMachine(r.Context(), m)
	if err != nil {
		s.fail(w, r, machineError(err))
		return
	}
	s.event(r.Context(), m.Name, 0, boot.EventMachineAdded, fmt.Sprintf("added with MACs %v", m.MACs))
	s.machinesChanged()
	writeJSON(w, nethttp.StatusCreated, m.Redacted())
}

// machineView is GET /api/v1/machines/{name}: the machine's fields, its
// active task (redacted) and its recent events, oldest first.
type machineView struct {
	boot.Machine
	ActiveTask *boot.Task   `json:"activeTask"`
	Events     []boot.Event `json:"events"`
	// State and power state as in the machine list (web.MachineSummary).
	// The power state is not under "power": that is the machine's own
	// field (its BMC settings, redacted), which it would hide.
	State        string         `json:"state"`
	PowerSummary *web.PowerView `json:"powerSummary,omitempty"`
}

func (s *Server) getMachine(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	ctx := r.Context()
	m, err := s.st.Machine(ctx, mux.Vars(r)["name"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := machineView{Machine: m.Redacted()}
	if t, err := s.st.ActiveTask(ctx, m.Name); err == nil {
		rt := redact(t)
		v.ActiveTask = &rt
	} else if !errors.Is(err, boot.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if v.Events, err = s.st.Events(ctx, m.Name, s.cfg.EventsShown); err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Events == nil {
		v.Events = []boot.Event{}
	}
	ts, err := s.st.Tasks(ctx, m.Name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sum := web.Summary(ctx, m, ts, s.webPower())
	v.State, v.PowerSummary = sum.State, sum.Power
	writeJSON(w, nethttp.StatusOK, v)
}

func (s *Server) deleteMachine(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name := mux.Vars(r)["name"]
	if err := s.st.DeleteMachine(r.Context(), name); err != nil {
		if errors.Is(err, boot.ErrConflict) {
			err = errorf(nethttp.StatusConflict, "Machine %s has an installation in progress: cancel it first", name)
		}
		s.fail(w, r, err)
		return
	}
	s.log.Info("machine deleted", "machine", name)
	s.machinesChanged()
	w.WriteHeader(nethttp.StatusNoContent)
}

func (s *Server) createTask(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	name := mux.Vars(r)["name"]
	var spec boot.InstallSpec
	if err := decodeStrict(body, &spec); err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.lc.Create(r.Context(), name, spec, lifecycle.FunctionReinstall)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusCreated, redact(t))
}

func (s *Server) listTasks(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	ts, err := s.st.Tasks(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, redactAll(ts))
}

func taskID(r *nethttp.Request) (int64, error) {
	raw := mux.Vars(r)["id"]
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(nethttp.StatusBadRequest, "Invalid task id %s: a positive integer is expected", boot.Quote(raw))
	}
	return id, nil
}

func (s *Server) getTask(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	id, err := taskID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.st.Task(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, redact(t))
}

// CancelledByOperator is the message of a task an operator cancelled
// (the credential that did is logged, not shown).
const CancelledByOperator = "Cancelled by an operator"

func (s *Server) cancelTaskHandler(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	id, err := taskID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.lc.Cancel(r.Context(), id, CancelledByOperator)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if p, ok := PrincipalFrom(r.Context()); ok { // who, for the log only
		s.log.Info("task cancelled by an operator", "task", t.ID, "machine", t.Machine, "credential", p.CredentialID)
	}
	writeJSON(w, nethttp.StatusOK, redact(t))
}
