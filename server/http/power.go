package http

import (
	"context"
	"errors"
	"fmt"
	nethttp "net/http"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/server/power"
	"github.com/byoi/byoi/server/web"
	"github.com/gorilla/mux"
)

// Power control routes (native API; OVH's POST …/reboot is in ovhRoutes):
//
//	GET  /api/v1/machines/{name}/power           powerView
//	PUT  /api/v1/machines/{name}/power           power.Config → the machine (password never shown)
//	POST /api/v1/machines/{name}/power/{action}  on, off, cycle, reset → powerView
//	POST /api/v1/machines/{name}/reboot          a hardReboot task
//	PUT  /api/v1/machines/{name}/boot            {mode: disk|rescue, sshKey, reboot} → the machine

func (s *Server) powerRoutes(r *mux.Router) {
	r.Handle("/machines/{name}/power", s.authed(s.getPower)).Methods(nethttp.MethodGet)
	r.Handle("/machines/{name}/power", s.authed(s.putPower)).Methods(nethttp.MethodPut)
	r.Handle("/machines/{name}/power/{action}", s.authed(s.powerAction)).Methods(nethttp.MethodPost)
	r.Handle("/machines/{name}/reboot", s.authed(s.rebootMachine)).Methods(nethttp.MethodPost)
	r.Handle("/machines/{name}/boot", s.authed(s.putBoot)).Methods(nethttp.MethodPut)
}

// bootInput is PUT /api/v1/machines/{name}/boot: what the machine boots
// next (disk or rescue), the rescue SSH key, and whether to reboot it now.
type bootInput struct {
	Mode   string `json:"mode"`
	SSHKey string `json:"sshKey"`
	Reboot bool   `json:"reboot"`
}

func (s *Server) putBoot(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	var in bootInput
	if err := decodeStrict(body, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.lc.SetBoot(r.Context(), mux.Vars(r)["name"], in.Mode, in.SSHKey, in.Reboot)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, m.Redacted())
}

// powerView is a machine's power as the native API shows it.
type powerView struct {
	// Driver is "none" when byoi cannot control the machine's power.
	Driver      string `json:"driver"`
	Address     string `json:"address,omitempty"`
	Username    string `json:"username,omitempty"`
	HasPassword bool   `json:"hasPassword"`
	// State is "on" or "off" as the BMC answered now, else the last state
	// byoi saw ("" when it never saw one); Live says which.
	State     string          `json:"state"`
	Live      bool            `json:"live"`
	StateErr  string          `json:"stateError,omitempty"`
	LastPower *boot.PowerNote `json:"lastPower,omitempty"`
}

func (s *Server) powerView(ctx context.Context, m boot.Machine) powerView {
	v := powerView{Driver: power.DriverNone, State: m.PowerState, LastPower: m.LastPower}
	if p := m.Power; p != nil {
		v.Driver, v.Address, v.Username, v.HasPassword = p.Driver, p.Address, p.Username, p.HasPassword()
		if s.cfg.Power != nil {
			st, err := s.cfg.Power.State(ctx, m)
			if err != nil {
				v.StateErr = err.Error()
			} else {
				v.State, v.Live = string(st), true
			}
		}
	}
	return v
}

func (s *Server) getPower(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	m, err := s.st.Machine(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, s.powerView(r.Context(), m))
}

func (s *Server) putPower(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	if s.cfg.Power == nil {
		s.fail(w, r, errNoPowerControl)
		return
	}
	var pc power.Config
	if err := decodeStrict(body, &pc); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.cfg.Power.Configure(r.Context(), mux.Vars(r)["name"], pc)
	if err != nil {
		s.fail(w, r, machineError(err))
		return
	}
	writeJSON(w, nethttp.StatusOK, m.Redacted())
}

func (s *Server) powerAction(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	if s.cfg.Power == nil {
		s.fail(w, r, errNoPowerControl)
		return
	}
	a, err := power.ParseAction(mux.Vars(r)["action"])
	if err != nil {
		s.fail(w, r, errorf(nethttp.StatusBadRequest, "%s", err.Error()))
		return
	}
	name := mux.Vars(r)["name"]
	if _, err := s.cfg.Power.Do(r.Context(), name, a); err != nil {
		s.fail(w, r, powerError(err))
		return
	}
	m, err := s.st.Machine(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, s.powerView(r.Context(), m))
}

// rebootMachine starts a hardReboot task (native twin of OVH's reboot).
func (s *Server) rebootMachine(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	t, err := s.lc.Reboot(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusCreated, redact(t))
}

// ovhReboot is OVH's POST /dedicated/server/{serviceName}/reboot.
func (s *Server) ovhReboot(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name := mux.Vars(r)["serviceName"]
	if _, err := s.machine(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.lc.Reboot(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, toOVHTask(t))
}

var errNoPowerControl = errorf(nethttp.StatusConflict, "This byoi server has no power control")

// powerError phrases a BMC failure: the machine's settings or the BMC are
// at fault, not the request (502), except a machine without a driver.
func powerError(err error) error {
	var pe *power.Error
	switch {
	case errors.Is(err, power.ErrNoDriver):
		return errorf(nethttp.StatusConflict, "%s", err.Error())
	case errors.As(err, &pe):
		return errorf(nethttp.StatusBadGateway, "%s", err.Error())
	case errors.Is(err, boot.ErrNotFound), lifecycle.KindOf(err) != 0:
		return err
	}
	return fmt.Errorf("power action: %w", err)
}

// webPower is the machine list's and the web UI's view of power control:
// the state byoi last saw (a list must not wait on every BMC; GET …/power
// asks the BMC) and the reboot and rescue actions, through the lifecycle.
// Nil without power control.
func (s *Server) webPower() web.PowerControl {
	if s.cfg.Power == nil {
		return nil
	}
	return webPower{s}
}

type webPower struct{ s *Server }

func (p webPower) PowerState(_ context.Context, m boot.Machine) (string, error) {
	switch {
	case m.Power == nil:
		return "", fmt.Errorf("no power driver configured for %s", m.Name)
	case m.PowerState == "":
		return "", errors.New("not read from the BMC yet")
	}
	return m.PowerState, nil
}

func (p webPower) PowerAction(ctx context.Context, m boot.Machine, action string) error {
	switch action {
	case "reboot":
		_, err := p.s.lc.Reboot(ctx, m.Name)
		return err
	case "rescue":
		_, err := p.s.lc.SetBoot(ctx, m.Name, lifecycle.BootRescue, "", true)
		return err
	}
	return fmt.Errorf("unknown power action %s", boot.Quote(action))
}
