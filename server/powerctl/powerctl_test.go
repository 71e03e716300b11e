package powerctl_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/server/power"
	"github.com/byoi/byoi/server/powerctl"
	"github.com/byoi/byoi/store"
)

// recorder is a power.Driver that records what it was asked and the
// settings it was built with.
type recorder struct {
	mu      sync.Mutex
	cfgs    []power.Config
	actions []string
	fail    error
}

func (r *recorder) newDriver(cfg power.Config, _ power.Options) (power.Driver, error) {
	if cfg.Driver == "" {
		return power.New(cfg, power.Options{Machine: "web-1"})
	}
	r.mu.Lock()
	r.cfgs = append(r.cfgs, cfg)
	r.mu.Unlock()
	return r, nil
}

func (r *recorder) State(context.Context) (power.State, error) { return power.On, r.fail }
func (r *recorder) Power(_ context.Context, a power.Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, string(a))
	return r.fail
}
func (r *recorder) PXEOnce(_ context.Context, uefi bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, map[bool]string{true: "pxe-uefi", false: "pxe-legacy"}[uefi])
	return r.fail
}
func (r *recorder) String() string { return "IPMI at 198.51.100.20" }

func setup(t *testing.T) (*store.Store, *auth.Keyring, *recorder, *powerctl.Controller) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := auth.LoadOrCreateKeyring(filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	pc := powerctl.New(st, kr, powerctl.Config{NewDriver: rec.newDriver, Retry: power.RetryOptions{Attempts: 3, Backoff: time.Millisecond}})
	t.Cleanup(pc.Close)
	if _, err := st.CreateMachine(context.Background(), boot.Machine{Name: "web-1", LastClient: "pcbios/i386"}); err != nil {
		t.Fatal(err)
	}
	return st, kr, rec, pc
}

// TestRotateReseals: auth's key rotation seals the BMC passwords again, the
// old key can then be retired, and the driver still gets the password.
func TestRotateReseals(t *testing.T) {
	ctx := context.Background()
	st, kr, rec, pc := setup(t)
	if _, err := pc.Configure(ctx, "web-1", power.Config{Driver: "ipmi", Address: "198.51.100.20", Username: "admin", Password: "pw-1"}); err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(st, kr, auth.Options{Secrets: []auth.SecretSet{pc}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Rotate(ctx, true)
	if err != nil || res.Resealed != 1 || len(res.Retired) != 1 {
		t.Fatalf("Rotate() = %+v, %v; want the BMC password resealed and version 1 retired", res, err)
	}
	m, _ := st.Machine(ctx, "web-1")
	if m.Power.KeyVersion != res.Version {
		t.Errorf("BMC password sealed with version %d, want %d", m.Power.KeyVersion, res.Version)
	}
	vs, err := a.KeyVersions(ctx)
	if err != nil || len(vs) != 1 || vs[0].Credentials != 1 {
		t.Errorf("KeyVersions() = %+v, %v; want the one version counting the BMC password", vs, err)
	}
	if _, err := pc.Do(ctx, "web-1", power.PowerOn); err != nil {
		t.Fatal(err)
	}
	if got := rec.cfgs[len(rec.cfgs)-1].Password; got != "pw-1" {
		t.Errorf("driver password after rotation = %q, want pw-1", got)
	}
}

// TestNetbootRetriesAndNotes: a network boot is retried, its attempts are
// events, and the note says what happened; legacy machines ask for a
// legacy PXE boot.
func TestNetbootRetriesAndNotes(t *testing.T) {
	ctx := context.Background()
	st, _, rec, pc := setup(t)
	if _, err := pc.Configure(ctx, "web-1", power.Config{Driver: "ipmi", Address: "198.51.100.20", Username: "admin", Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	rec.fail = &power.Error{Op: "power-cycle", Machine: "web-1", Driver: "IPMI at 198.51.100.20", Err: power.ErrUnreachable}
	m, _ := st.Machine(ctx, "web-1")
	var outcome error
	pc.Netboot(m, "reinstall, task 1", func(err error) { outcome = err })
	pc.Wait()
	if !errors.Is(outcome, power.ErrUnreachable) || strings.Join(rec.actions, ",") != "pxe-legacy,pxe-legacy,pxe-legacy" {
		t.Errorf("Netboot with the BMC down = %v after %v, want 3 legacy PXE attempts and ErrUnreachable", outcome, rec.actions)
	}
	m, _ = st.Machine(ctx, "web-1")
	if n := m.LastPower; n == nil || n.Attempts != 3 || n.Pending() || !strings.Contains(n.Error, "could not power-cycle web-1 via IPMI at 198.51.100.20") {
		t.Errorf("LastPower = %+v, want 3 attempts and the operator's message", n)
	}
	es, _ := st.Events(ctx, "web-1", 0)
	attempts := 0
	for _, e := range es {
		if e.Kind == boot.EventPower && strings.Contains(e.Message, "attempt") {
			attempts++
		}
		if strings.Contains(e.Message, "pw") && !strings.Contains(e.Message, "power") {
			t.Errorf("event %q may show the password", e.Message)
		}
	}
	if attempts != 3 {
		t.Errorf("%d attempt events, want 3", attempts)
	}

	// Without a driver: a note to power-cycle by hand, at once.
	if _, err := pc.Configure(ctx, "web-1", power.Config{}); err != nil {
		t.Fatal(err)
	}
	m, _ = st.Machine(ctx, "web-1")
	pc.Netboot(m, "rescue", nil)
	pc.Wait()
	m, _ = st.Machine(ctx, "web-1")
	if m.LastPower == nil || !strings.Contains(m.LastPower.Error, "power-cycle it by hand") || m.Power != nil {
		t.Errorf("LastPower without a driver = %+v (power %+v), want the by-hand note", m.LastPower, m.Power)
	}
}

func TestConfigureRefusesBadSettings(t *testing.T) {
	_, _, _, pc := setup(t)
	_, err := pc.Configure(context.Background(), "web-1", power.Config{Driver: "ipmi", Password: "hunter2"})
	if !boot.IsValidation(err) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Configure(ipmi without address) = %v, want a validation error without the password", err)
	}
	if _, err := pc.Configure(context.Background(), "nope", power.Config{Driver: "qmp", Address: "unix:/run/x.qmp"}); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("Configure(unknown machine) = %v, want ErrNotFound", err)
	}
}
