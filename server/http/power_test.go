package http

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/server/power"
	"github.com/byoi/byoi/server/powerctl"
)

// fakeBMC is a power.Driver standing in for a BMC: it records the actions
// and answers with its state or its error.
type fakeBMC struct {
	mu      sync.Mutex
	state   power.State
	err     error
	actions []string
	pass    string // the password the driver was built with
}

func (b *fakeBMC) State(context.Context) (power.State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state, b.err
}

func (b *fakeBMC) Power(_ context.Context, a power.Action) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.actions = append(b.actions, string(a))
	if b.err != nil {
		return &power.Error{Op: string(a), Machine: "m", Driver: "IPMI at 198.51.100.20", Err: b.err}
	}
	switch a {
	case power.PowerOff:
		b.state = power.Off
	default:
		b.state = power.On
	}
	return nil
}

func (b *fakeBMC) PXEOnce(context.Context, bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.actions = append(b.actions, "pxe")
	if b.err != nil {
		return &power.Error{Op: "pxe", Machine: "m", Driver: "IPMI at 198.51.100.20", Err: b.err}
	}
	return nil
}

func (b *fakeBMC) String() string { return "IPMI at 198.51.100.20" }

func (b *fakeBMC) did() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.actions, ",")
}

// withPower gives the env a real power controller whose drivers are bmc.
func withPower(t *testing.T, bmc *fakeBMC) func(*Config) {
	return func(c *Config) {
		kr, err := auth.NewKeyring(make([]byte, auth.KeySize))
		if err != nil {
			t.Fatal(err)
		}
		c.Power = &lazyPower{kr: kr, bmc: bmc, retry: power.RetryOptions{Attempts: 2, Backoff: time.Millisecond}}
	}
}

// lazyPower builds the controller once the env's store exists.
type lazyPower struct {
	*powerctl.Controller
	kr    *auth.Keyring
	bmc   *fakeBMC
	retry power.RetryOptions
}

func (e *env) powerCtl() *powerctl.Controller {
	lp := e.cfg.Power.(*lazyPower)
	if lp.Controller == nil {
		lp.Controller = powerctl.New(e.st, lp.kr, powerctl.Config{Retry: lp.retry, Now: e.clock,
			NewDriver: func(cfg power.Config, _ power.Options) (power.Driver, error) {
				if cfg.Driver == "" {
					return power.New(cfg, power.Options{Machine: "m"})
				}
				lp.bmc.mu.Lock()
				lp.bmc.pass = cfg.Password
				lp.bmc.mu.Unlock()
				return lp.bmc, nil
			}})
		e.t.Cleanup(lp.Controller.Close)
	}
	return lp.Controller
}

func TestPowerRoutes(t *testing.T) {
	bmc := &fakeBMC{state: power.Off}
	e := newEnv(t, withPower(t, bmc))
	e.powerCtl()
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	if got := decode[powerView](t, e.api("GET", "/api/v1/machines/web-1/power", "", 200)); got.Driver != "none" || got.Live {
		t.Errorf("GET power before settings = %+v, want driver none", got)
	}
	e.api("PUT", "/api/v1/machines/web-1/power", `{"driver":"ipmi","address":"198.51.100.20","username":"admin","password":"s3cret-BMC"}`, 200)
	m, _ := e.st.Machine(context.Background(), "web-1")
	if !m.Power.HasPassword() || strings.Contains(string(m.Power.SealedPassword), "s3cret-BMC") {
		t.Fatalf("stored power settings %+v: want the password sealed", m.Power)
	}
	for _, path := range []string{"/api/v1/machines/web-1", "/api/v1/machines", "/api/v1/machines/web-1/power", "/1.0/dedicated/server/web-1"} {
		if b := e.api("GET", path, "", 200).Body.String(); strings.Contains(b, "s3cret") || strings.Contains(b, "sealedPassword") {
			t.Errorf("GET %s shows the password or its sealed form: %s", path, b)
		}
	}
	v := decode[powerView](t, e.api("POST", "/api/v1/machines/web-1/power/on", "", 200))
	if v.State != "on" || !v.Live || bmc.did() != "on" || bmc.pass != "s3cret-BMC" {
		t.Errorf("power on = %+v, BMC saw %q with password %q; want on, the password unsealed for the driver", v, bmc.did(), bmc.pass)
	}
	if got := decode[map[string]any](t, e.api("GET", "/1.0/dedicated/server/web-1", "", 200)); got["powerState"] != "poweron" {
		t.Errorf("OVH powerState = %v, want poweron", got["powerState"])
	}
	// The machine view has both the machine's BMC settings ("power") and
	// the power state of the machine list ("powerSummary").
	mv := decode[machineView](t, e.api("GET", "/api/v1/machines/web-1", "", 200))
	if mv.Machine.Power == nil || mv.Machine.Power.Driver != "ipmi" || mv.Machine.Power.Address != "198.51.100.20" || mv.PowerSummary == nil || mv.PowerSummary.State != "on" {
		t.Errorf("GET machine: power %+v, powerSummary %+v; want the ipmi settings and state on", mv.Machine.Power, mv.PowerSummary)
	}
	e.api("POST", "/api/v1/machines/web-1/power/bogus", "", 400)
	// A re-PUT without a password keeps the sealed one.
	e.api("PUT", "/api/v1/machines/web-1/power", `{"driver":"ipmi","address":"198.51.100.20","username":"admin"}`, 200)
	if m2, _ := e.st.Machine(context.Background(), "web-1"); !m2.Power.HasPassword() {
		t.Errorf("re-PUT without a password dropped the stored one")
	}
	e.api("PUT", "/api/v1/machines/web-1/power", `{"driver":"ipmi","address":""}`, 400)

	bmc.mu.Lock()
	bmc.err = power.ErrUnreachable
	bmc.mu.Unlock()
	w := e.api("POST", "/api/v1/machines/web-1/power/cycle", "", 502)
	if b := w.Body.String(); !strings.Contains(b, "198.51.100.20") || strings.Contains(b, "s3cret") {
		t.Errorf("power cycle with the BMC down = %s, want the BMC named and no password", b)
	}
	// The OVH machine object falls back to the last state seen.
	if got := decode[map[string]any](t, e.api("GET", "/1.0/dedicated/server/web-1", "", 200)); got["powerState"] != "poweron" {
		t.Errorf("OVH powerState with the BMC down = %v, want the last seen poweron", got["powerState"])
	}
}

// TestReinstallPowerCycles: a reinstall network-boots its machine through
// the BMC; a BMC that stays unreachable leaves the task todo with a note
// and events an operator can act on; OVH's reboot is a hardReboot task.
func TestReinstallPowerCycles(t *testing.T) {
	bmc := &fakeBMC{state: power.Off}
	e := newEnv(t, withPower(t, bmc))
	pc := e.powerCtl()
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	e.api("PUT", "/api/v1/machines/web-1/power", `{"driver":"ipmi","address":"198.51.100.20","username":"admin","password":"pw"}`, 200)
	e.api("POST", "/1.0/dedicated/server/web-1/reinstall", validReinstall, 200)
	pc.Wait()
	if got := bmc.did(); got != "pxe,cycle" {
		t.Errorf("BMC actions after a reinstall = %q, want pxe,cycle", got)
	}
	m, _ := e.st.Machine(context.Background(), "web-1")
	if m.LastPower == nil || m.LastPower.Pending() || m.LastPower.Error != "" || !strings.Contains(m.LastPower.Reason, "reinstall") {
		t.Errorf("LastPower = %+v, want a finished reinstall network boot", m.LastPower)
	}
	ts, _ := e.st.Tasks(context.Background(), "web-1")
	e.api("POST", "/api/v1/tasks/"+itoa(ts[0].ID)+"/cancel", "", 200)

	bmc.mu.Lock()
	bmc.err, bmc.actions = power.ErrUnreachable, nil
	bmc.mu.Unlock()
	e.api("POST", "/1.0/dedicated/server/web-1/reinstall", validReinstall, 200)
	pc.Wait()
	m, _ = e.st.Machine(context.Background(), "web-1")
	if m.LastPower == nil || m.LastPower.Attempts != 2 || !strings.Contains(m.LastPower.Error, "198.51.100.20") {
		t.Errorf("LastPower with the BMC down = %+v, want 2 attempts and the BMC named", m.LastPower)
	}
	ts, _ = e.st.Tasks(context.Background(), "web-1")
	if ts[0].Status != boot.StatusTodo {
		t.Errorf("task with the BMC down = %s, want still todo (the operator can power-cycle by hand)", ts[0].Status)
	}
	es, _ := e.st.Events(context.Background(), "web-1", 0)
	var found bool
	for _, ev := range es {
		found = found || (ev.Kind == boot.EventPower && strings.Contains(ev.Message, "by hand"))
	}
	if !found {
		t.Errorf("events %+v: want one telling to power-cycle by hand", es)
	}
	e.api("POST", "/api/v1/tasks/"+itoa(ts[0].ID)+"/cancel", "", 200)

	bmc.mu.Lock()
	bmc.err, bmc.actions = nil, nil
	bmc.mu.Unlock()
	task := decode[ovhTaskJSON](t, e.api("POST", "/1.0/dedicated/server/web-1/reboot", "", 200))
	if task.Function != "hardReboot" {
		t.Errorf("POST reboot task = %+v, want hardReboot", task)
	}
	pc.Wait()
	got := decode[ovhTaskJSON](t, e.api("GET", "/1.0/dedicated/server/web-1/task/"+itoa(task.TaskID), "", 200))
	if got.Status != "done" || bmc.did() != "cycle" {
		t.Errorf("hardReboot task = %s, BMC %q; want done after a cycle", got.Status, bmc.did())
	}
	bmc.mu.Lock()
	bmc.err = errors.New("boom")
	bmc.mu.Unlock()
	task = decode[ovhTaskJSON](t, e.api("POST", "/1.0/dedicated/server/web-1/reboot", "", 200))
	pc.Wait()
	if got := decode[ovhTaskJSON](t, e.api("GET", "/1.0/dedicated/server/web-1/task/"+itoa(task.TaskID), "", 200)); got.Status != "ovhError" {
		t.Errorf("hardReboot with a failing BMC = %s, want ovhError", got.Status)
	}
}

func TestPowerStateWithoutControl(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	if got := decode[map[string]any](t, e.api("GET", "/1.0/dedicated/server/web-1", "", 200)); got["powerState"] != "poweroff" {
		t.Errorf("powerState of a machine never seen = %v, want poweroff", got["powerState"])
	}
	e.do("GET", "/ipxe/machine?mac=52:54:00:00:00:01", "", "")
	if got := decode[map[string]any](t, e.api("GET", "/1.0/dedicated/server/web-1", "", 200)); got["powerState"] != "poweron" {
		t.Errorf("powerState of a machine that booted = %v, want poweron", got["powerState"])
	}
	e.api("POST", "/api/v1/machines/web-1/power/on", "", 409)
}
