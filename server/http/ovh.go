package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/gorilla/mux"
)

func (s *Server) ovhRoutes(r *mux.Router) {
	const srv = "/dedicated/server/{serviceName}"
	routes := []struct {
		method, path string
		h            bodyHandler
	}{
		{nethttp.MethodGet, "/dedicated/server", s.ovhList},
		{nethttp.MethodGet, srv, s.ovhGetServer},
		{nethttp.MethodPut, srv, s.ovhPutServer},
		{nethttp.MethodPost, srv + "/reinstall", s.ovhInstall(decodeReinstall)},
		{nethttp.MethodPost, srv + "/install/start", s.ovhInstall(decodeInstallStart)},
		{nethttp.MethodPost, srv + "/bringYourOwnImage", s.ovhBYOIPost},
		{nethttp.MethodGet, srv + "/bringYourOwnImage", s.ovhBYOIGet},
		{nethttp.MethodDelete, srv + "/bringYourOwnImage", s.ovhBYOIDelete},
		{nethttp.MethodGet, srv + "/install/status", s.ovhInstallStatus},
		{nethttp.MethodGet, srv + "/task", s.ovhTaskList},
		{nethttp.MethodGet, srv + "/task/{taskId}", s.ovhTask},
	}
	for _, rt := range routes {
		r.Handle(rt.path, s.authed(rt.h)).Methods(rt.method)
	}
}

func (s *Server) handleAuthTime(w nethttp.ResponseWriter, _ *nethttp.Request) {
	writeJSON(w, nethttp.StatusOK, s.cfg.Now().Unix())
}

// ovhServer is byoi's dedicated.Server: OVH's fields that make sense here,
// plus byoi's own.
type ovhServer struct {
	Name              string        `json:"name"`
	OS                string        `json:"os"`
	State             string        `json:"state"`
	EFIBootloaderPath string        `json:"efiBootloaderPath"`
	BootMode          boot.BootMode `json:"bootMode"`
	MACs              []string      `json:"macs"`
	IP                string        `json:"ip,omitempty"`
	LastSeen          *time.Time    `json:"lastSeen"`
}

func (s *Server) ovhList(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	ms, err := s.st.Machines(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	names := []string{}
	for _, m := range ms {
		if !m.Discovered {
			names = append(names, m.Name)
		}
	}
	writeJSON(w, nethttp.StatusOK, names)
}

func (s *Server) ovhGetServer(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	m, err := s.machine(r.Context(), mux.Vars(r)["serviceName"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := ovhServer{
		Name: m.Name, OS: "none_64", State: "ok", EFIBootloaderPath: m.EFIBootloaderPath,
		BootMode: m.BootMode, MACs: m.MACs, IP: m.IPv4, LastSeen: timePtr(m.LastSeen),
	}
	if m.BootMode == boot.BootModeLocal {
		out.OS = boot.OSBYOI
	}
	if out.MACs == nil {
		out.MACs = []string{}
	}
	writeJSON(w, nethttp.StatusOK, out)
}

type ovhServerUpdate struct {
	EFIBootloaderPath *string        `json:"efiBootloaderPath"`
	BootMode          *boot.BootMode `json:"bootMode"`
}

// ovhPutServer changes efiBootloaderPath and the boot mode; OVH answers null.
func (s *Server) ovhPutServer(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	name := mux.Vars(r)["serviceName"]
	cur, err := s.machine(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var u ovhServerUpdate
	if err := decodeLenient(body, &u); err != nil {
		s.fail(w, r, err)
		return
	}
	apply := func(m *boot.Machine) error {
		if u.EFIBootloaderPath != nil {
			m.EFIBootloaderPath = *u.EFIBootloaderPath
		}
		if u.BootMode != nil {
			m.BootMode = *u.BootMode
		}
		return m.Validate()
	}
	cur.MACs = append([]string(nil), cur.MACs...)
	if err := apply(&cur); err != nil {
		s.fail(w, r, errorf(nethttp.StatusBadRequest, "%s", err.Error()))
		return
	}
	m, err := s.st.UpdateMachine(r.Context(), name, apply)
	if err != nil {
		s.fail(w, r, machineError(err))
		return
	}
	s.event(r.Context(), name, 0, boot.EventBootMode, fmt.Sprintf("boot mode %q, efiBootloaderPath %q (PUT /dedicated/server)", m.BootMode, m.EFIBootloaderPath))
	writeJSON(w, nethttp.StatusOK, nil)
}

// ovhInstall answers reinstall and install/start with the new task.
func (s *Server) ovhInstall(decode func([]byte) (boot.InstallSpec, error)) bodyHandler {
	return func(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
		name := mux.Vars(r)["serviceName"]
		if _, err := s.machine(r.Context(), name); err != nil {
			s.fail(w, r, err)
			return
		}
		spec, err := decode(body)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		t, err := s.lc.Create(r.Context(), name, spec, lifecycle.FunctionReinstall)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, nethttp.StatusOK, toOVHTask(t))
	}
}

// ovhTaskJSON is dedicated.server.Task.
type ovhTaskJSON struct {
	TaskID     int64      `json:"taskId"`
	Function   string     `json:"function"`
	Comment    string     `json:"comment"`
	Status     string     `json:"status"`
	LastUpdate *time.Time `json:"lastUpdate"`
	StartDate  *time.Time `json:"startDate"`
	DoneDate   *time.Time `json:"doneDate"`
}

func toOVHTask(t boot.Task) ovhTaskJSON {
	comment := t.Comment
	if t.Message != "" {
		comment = t.Message
	}
	return ovhTaskJSON{
		TaskID: t.ID, Function: t.Function, Comment: comment, Status: string(t.Status),
		LastUpdate: timePtr(t.LastUpdate), StartDate: timePtr(t.StartDate), DoneDate: timePtr(t.DoneDate),
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Server) ovhTaskList(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name := mux.Vars(r)["serviceName"]
	if _, err := s.machine(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	ts, err := s.st.Tasks(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[len(ts)-1-i] = t.ID // oldest first, as OVH lists them
	}
	writeJSON(w, nethttp.StatusOK, ids)
}

func (s *Server) ovhTask(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name := mux.Vars(r)["serviceName"]
	if _, err := s.machine(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	raw := mux.Vars(r)["taskId"]
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		writeError(w, nethttp.StatusBadRequest, fmt.Sprintf("Invalid taskId %s: an integer is expected", boot.Quote(raw)))
		return
	}
	t, err := s.st.Task(r.Context(), id)
	if errors.Is(err, boot.ErrNotFound) || (err == nil && t.Machine != name) {
		writeError(w, nethttp.StatusNotFound, fmt.Sprintf("The requested object (taskId = %d) does not exist", id))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, toOVHTask(t))
}
