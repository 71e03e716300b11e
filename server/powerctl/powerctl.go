// Package powerctl drives machines' power for the rest of byoi: it keeps
// each machine's BMC settings (the password sealed with the server key),
// builds a server/power driver from them when needed, runs the actions
// (network boot and power-cycle for a reinstall or rescue, plain power
// actions for operators) with retries, and records every action and its
// result on the machine (LastPower, PowerState) and in its history. No
// password ever reaches a log line, an event or an answer.
//
//	pc := powerctl.New(st, keyring, powerctl.Config{Logger: log})
//	defer pc.Close()
//	m, err := pc.Configure(ctx, "rack1-07", power.Config{Driver: "ipmi", …})
//	pc.Netboot(m, "reinstall (task 12)", nil) // in the background
package powerctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/power"
)

// Store is what powerctl needs from persistence.
type Store interface {
	Machine(ctx context.Context, name string) (boot.Machine, error)
	Machines(ctx context.Context) ([]boot.Machine, error)
	UpdateMachine(ctx context.Context, name string, fn func(*boot.Machine) error) (boot.Machine, error)
	AppendEvent(ctx context.Context, e boot.Event) (boot.Event, error)
}

// Sealer seals and opens passwords with the server key (auth.Keyring).
type Sealer interface {
	SealCurrent(plain, additional []byte) (int, []byte, error)
	OpenVersion(version int, sealed, additional []byte) ([]byte, error)
}

// Config configures a Controller. The zero value works.
type Config struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Retry bounds the attempts of a network boot (power.RetryOptions'
	// defaults: 4 attempts, 2 s doubling to 30 s).
	Retry power.RetryOptions
	// Timeout bounds one BMC exchange; StateTimeout a live state query
	// made for a view (3 s by default).
	Timeout, StateTimeout time.Duration
	// NewDriver builds a driver; nil: power.New. Tests give their own.
	NewDriver func(power.Config, power.Options) (power.Driver, error)
}

// Controller runs power actions. Its methods are safe for concurrent use.
type Controller struct {
	cfg    Config
	st     Store
	sealer Sealer
	log    *slog.Logger

	ctx    context.Context // background actions run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a Controller over st; sealer seals the BMC passwords.
func New(st Store, sealer Sealer, cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StateTimeout <= 0 {
		cfg.StateTimeout = 3 * time.Second
	}
	if cfg.NewDriver == nil {
		cfg.NewDriver = power.New
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Controller{cfg: cfg, st: st, sealer: sealer, log: cfg.Logger, ctx: ctx, cancel: cancel}
}

// Close stops the background actions and waits for them.
func (c *Controller) Close() {
	c.cancel()
	c.wg.Wait()
}

// Wait waits for the background actions started so far (tests).
func (c *Controller) Wait() { c.wg.Wait() }

// sealAD binds a sealed password to its machine.
func sealAD(machine string) []byte { return []byte("byoi power password:" + machine) }

// Configure validates pc and stores it as the machine's power settings,
// the password sealed; an empty password keeps the stored one when the
// driver and address are unchanged. pc.Driver "" or "none" removes them.
func (c *Controller) Configure(ctx context.Context, name string, pc power.Config) (boot.Machine, error) {
	if err := pc.Validate(); err != nil {
		return boot.Machine{}, &boot.ValidationError{Msg: err.Error()}
	}
	var sealed []byte
	var version int
	if pc.Password != "" {
		v, s, err := c.sealer.SealCurrent([]byte(pc.Password), sealAD(name))
		if err != nil {
			return boot.Machine{}, fmt.Errorf("seal the BMC password of %s: %w", name, err)
		}
		sealed, version = s, v
	}
	m, err := c.st.UpdateMachine(ctx, name, func(m *boot.Machine) error {
		if pc.Driver == "" || pc.Driver == power.DriverNone {
			m.Power = nil
			return nil
		}
		next := &boot.PowerSettings{Driver: pc.Driver, Address: pc.Address, Username: pc.Username,
			System: pc.System, NIC: pc.NIC, InsecureTLS: pc.InsecureTLS, SealedPassword: sealed, KeyVersion: version}
		if old := m.Power; sealed == nil && old != nil && old.Driver == pc.Driver && old.Address == pc.Address {
			next.SealedPassword, next.KeyVersion = old.SealedPassword, old.KeyVersion
		}
		m.Power = next
		return nil
	})
	if err != nil {
		return m, err
	}
	desc := "none"
	if m.Power != nil {
		d, _ := c.driver(m)
		desc = d.String()
	}
	c.event(ctx, name, "power settings: "+desc)
	return m, nil
}

// driver builds the machine's driver, the password unsealed.
func (c *Controller) driver(m boot.Machine) (power.Driver, error) {
	cfg := power.Config{}
	if p := m.Power; p != nil {
		cfg = power.Config{Driver: p.Driver, Address: p.Address, Username: p.Username, System: p.System, NIC: p.NIC, InsecureTLS: p.InsecureTLS}
		if p.HasPassword() {
			pw, err := c.sealer.OpenVersion(p.KeyVersion, p.SealedPassword, sealAD(m.Name))
			if err != nil {
				return nil, fmt.Errorf("open the BMC password of %s: %w", m.Name, err)
			}
			cfg.Password = string(pw)
		}
	}
	return c.cfg.NewDriver(cfg, power.Options{Machine: m.Name, Timeout: c.cfg.Timeout, Logger: c.log})
}

// HasDriver reports whether byoi can control the machine's power.
func HasDriver(m boot.Machine) bool {
	return m.Power != nil && m.Power.Driver != "" && m.Power.Driver != power.DriverNone
}

func (c *Controller) event(ctx context.Context, machine, msg string) {
	_, err := c.st.AppendEvent(ctx, boot.Event{Time: c.cfg.Now(), Machine: machine, Kind: boot.EventPower, Message: msg})
	if err != nil {
		c.log.Error("append event", "machine", machine, "err", err)
	}
}

// note records the machine's last power action.
func (c *Controller) note(ctx context.Context, name string, n boot.PowerNote, state power.State) {
	_, err := c.st.UpdateMachine(ctx, name, func(m *boot.Machine) error {
		m.LastPower = &n
		if state != "" {
			m.PowerState, m.PowerSeen = string(state), c.cfg.Now()
		}
		return nil
	})
	if err != nil && !errors.Is(err, boot.ErrNotFound) {
		c.log.Error("record power action", "machine", name, "err", err)
	}
}
