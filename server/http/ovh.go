package http

import (
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"slices"
	"strconv"
	"strings"

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
		{nethttp.MethodGet, "/auth/details", s.ovhAuthDetails},
		{nethttp.MethodGet, "/me", s.ovhMe},
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
		{nethttp.MethodPost, srv + "/reboot", s.ovhReboot},
		{nethttp.MethodGet, srv + "/boot", s.ovhBootList},
		{nethttp.MethodGet, srv + "/boot/{bootId}", s.ovhBoot},
	}
	for _, rt := range routes {
		r.Handle(rt.path, s.authed(rt.h)).Methods(rt.method)
	}
}

func (s *Server) handleAuthTime(w nethttp.ResponseWriter, _ *nethttp.Request) {
	writeJSON(w, nethttp.StatusOK, s.cfg.Now().Unix())
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
	ip, err := s.machineIP(r.Context(), m)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, s.serverView(r.Context(), m, ip))
}

// machineIP is the machine's fixed address, else the address of a DHCP
// lease one of its MACs holds (full mode), else "".
func (s *Server) machineIP(ctx context.Context, m boot.Machine) (string, error) {
	if m.IPv4 != "" {
		return m.IPv4, nil
	}
	leases, err := s.st.Leases(ctx)
	if err != nil {
		return "", err
	}
	for _, l := range leases {
		if slices.Contains(m.MACs, l.MAC) {
			return l.IP, nil
		}
	}
	return "", nil
}

type ovhServerUpdate struct {
	EFIBootloaderPath *string        `json:"efiBootloaderPath"`
	BootMode          *boot.BootMode `json:"bootMode"`
	BootID            *int64         `json:"bootId"`
	RescueSSHKey      *string        `json:"rescueSshKey"`
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
	mode := ""
	if u.BootID != nil {
		switch *u.BootID {
		case bootIDDisk:
			mode = lifecycle.BootDisk
		case bootIDRescue:
			mode = lifecycle.BootRescue
		default:
			s.fail(w, r, errorf(nethttp.StatusBadRequest, "Invalid bootId %d: this server has boots %d (harddisk) and %d (rescue)", *u.BootID, bootIDDisk, bootIDRescue))
			return
		}
	}
	if u.RescueSSHKey != nil && *u.RescueSSHKey != "" {
		if err := boot.ValidateSSHKey(*u.RescueSSHKey); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	apply := func(m *boot.Machine) error {
		if u.EFIBootloaderPath != nil {
			m.EFIBootloaderPath = *u.EFIBootloaderPath
		}
		if u.BootMode != nil {
			m.BootMode = *u.BootMode
		}
		if u.RescueSSHKey != nil {
			m.RescueSSHKey = *u.RescueSSHKey
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
	if mode != "" { // the next boot; OVH applies it at the next reboot
		if _, err := s.lc.SetBoot(r.Context(), name, mode, "", false); err != nil {
			s.fail(w, r, err)
			return
		}
	}
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

func (s *Server) ovhTaskList(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name := mux.Vars(r)["serviceName"]
	if _, err := s.machine(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	function, status := q.Get("function"), q.Get("status")
	if status != "" && !slices.Contains(allStatuses, boot.Status(status)) {
		writeError(w, nethttp.StatusBadRequest, fmt.Sprintf("Invalid value for status: %s is not one of %s", boot.Quote(status), statusList(true)))
		return
	}
	ts, err := s.st.Tasks(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids := []int64{}
	for _, t := range slices.Backward(ts) { // oldest first, as OVH lists them
		if (function == "" || t.Function == function) && (status == "" || string(t.Status) == status) {
			ids = append(ids, t.ID)
		}
	}
	writeJSON(w, nethttp.StatusOK, ids)
}

// statusList names every task status in lifecycle order; OVH's enum
// listing (sorted=true) is alphabetical.
func statusList(sorted bool) string {
	names := make([]string, len(allStatuses))
	for i, st := range allStatuses {
		names[i] = string(st)
	}
	if sorted {
		slices.Sort(names)
	}
	return strings.Join(names, ", ")
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

// ovhBootList lists the boot ids (GET …/boot): the hard disk and rescue.
func (s *Server) ovhBootList(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	if _, err := s.machine(r.Context(), mux.Vars(r)["serviceName"]); err != nil {
		s.fail(w, r, err)
		return
	}
	ids := make([]int64, len(ovhBoots))
	for i, b := range ovhBoots {
		ids[i] = b.BootID
	}
	writeJSON(w, nethttp.StatusOK, ids)
}

// ovhBoot is GET …/boot/{bootId}.
func (s *Server) ovhBoot(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	if _, err := s.machine(r.Context(), mux.Vars(r)["serviceName"]); err != nil {
		s.fail(w, r, err)
		return
	}
	raw := mux.Vars(r)["bootId"]
	for _, b := range ovhBoots {
		if fmt.Sprint(b.BootID) == raw {
			writeJSON(w, nethttp.StatusOK, b)
			return
		}
	}
	writeError(w, nethttp.StatusNotFound, fmt.Sprintf("The requested object (bootId = %s) does not exist", boot.Clip(raw)))
}
