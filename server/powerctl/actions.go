package powerctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/power"
)

// Netboot makes the machine boot from the network once, now (one-time
// PXE, then a power cycle, or a power-on when it is off), in the
// background, retrying with backoff. Every attempt is an event; the
// outcome is the machine's LastPower. A machine without a driver gets a
// note saying to power-cycle it by hand. done, if set, is called with the
// outcome.
func (c *Controller) Netboot(m boot.Machine, why string, done func(error)) {
	c.background(m, "network boot and power-cycle", why, func(ctx context.Context, d power.Driver, attempt func(int, error)) error {
		return power.CycleToPXE(ctx, d, uefi(m), power.RetryOptions{
			Attempts: c.cfg.Retry.Attempts, Backoff: c.cfg.Retry.Backoff, MaxBackoff: c.cfg.Retry.MaxBackoff,
			OnAttempt: attempt,
		})
	}, done)
}

// Cycle power-cycles the machine in the background (a hard reboot to
// whatever it boots), like Netboot.
func (c *Controller) Cycle(m boot.Machine, why string, done func(error)) {
	c.background(m, "power-cycle", why, func(ctx context.Context, d power.Driver, attempt func(int, error)) error {
		err := d.Power(ctx, power.Cycle)
		attempt(1, err)
		return err
	}, done)
}

// uefi says how the machine boots, from its last boot request; unknown
// counts as UEFI.
func uefi(m boot.Machine) bool {
	return !(len(m.LastClient) >= 6 && m.LastClient[:6] == "pcbios")
}

func (c *Controller) background(m boot.Machine, action, why string, run func(context.Context, power.Driver, func(int, error)) error, done func(error)) {
	start := c.cfg.Now()
	note := boot.PowerNote{Action: action, Reason: why, Start: start}
	c.note(c.ctx, m.Name, note, "")
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		err := c.run(m, &note, run)
		if done != nil {
			done(err)
		}
	}()
}

func (c *Controller) run(m boot.Machine, note *boot.PowerNote, run func(context.Context, power.Driver, func(int, error)) error) error {
	ctx := c.ctx
	d, err := c.driver(m)
	if err == nil {
		err = run(ctx, d, func(attempt int, err error) {
			note.Attempts = attempt
			if err != nil {
				note.Error = err.Error()
				c.event(ctx, m.Name, fmt.Sprintf("%s (%s), attempt %d: %v", note.Action, note.Reason, attempt, err))
				c.note(ctx, m.Name, *note, "")
			}
		})
	}
	note.End = c.cfg.Now()
	var state power.State
	switch {
	case err == nil:
		note.Error, state = "", power.On
		c.event(ctx, m.Name, fmt.Sprintf("%s (%s): done via %s", note.Action, note.Reason, d))
		c.log.Info("power action", "machine", m.Name, "action", note.Action, "reason", note.Reason, "driver", d.String())
	case errors.Is(err, power.ErrNoDriver):
		note.Error = fmt.Sprintf("no power driver configured for %s: power-cycle it by hand (PXE first)", m.Name)
		c.event(ctx, m.Name, note.Error)
	default:
		note.Error = err.Error()
		c.event(ctx, m.Name, fmt.Sprintf("%s (%s) failed: %v; power-cycle it by hand (PXE first)", note.Action, note.Reason, err))
		c.log.Warn("power action failed", "machine", m.Name, "action", note.Action, "err", err)
	}
	c.note(context.WithoutCancel(ctx), m.Name, *note, state)
	return err
}

// Do runs one power action now and waits for it.
func (c *Controller) Do(ctx context.Context, name string, a power.Action) (power.State, error) {
	m, err := c.st.Machine(ctx, name)
	if err != nil {
		return "", err
	}
	d, err := c.driver(m)
	if err != nil {
		return "", err
	}
	note := boot.PowerNote{Action: string(a), Reason: "operator", Start: c.cfg.Now()}
	err = d.Power(ctx, a)
	note.End, note.Attempts = c.cfg.Now(), 1
	if err != nil {
		note.Error = err.Error()
		c.note(ctx, name, note, "")
		c.event(ctx, name, fmt.Sprintf("power %s failed: %v", a, err))
		return "", err
	}
	c.event(ctx, name, fmt.Sprintf("power %s: done via %s", a, d))
	st, serr := c.state(ctx, d)
	c.note(ctx, name, note, st)
	if serr != nil {
		return "", nil
	}
	return st, nil
}

// State asks the BMC for the machine's power state (within StateTimeout)
// and records it. A machine without a driver answers power.ErrNoDriver.
func (c *Controller) State(ctx context.Context, m boot.Machine) (power.State, error) {
	if !HasDriver(m) {
		return "", power.ErrNoDriver
	}
	d, err := c.driver(m)
	if err != nil {
		return "", err
	}
	st, err := c.state(ctx, d)
	if err != nil {
		return "", err
	}
	if string(st) != m.PowerState || c.cfg.Now().Sub(m.PowerSeen) > time.Minute {
		_, err := c.st.UpdateMachine(ctx, m.Name, func(m *boot.Machine) error {
			m.PowerState, m.PowerSeen = string(st), c.cfg.Now()
			return nil
		})
		if err != nil && !errors.Is(err, boot.ErrNotFound) {
			c.log.Error("record power state", "machine", m.Name, "err", err)
		}
	}
	return st, nil
}

func (c *Controller) state(ctx context.Context, d power.Driver) (power.State, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StateTimeout)
	defer cancel()
	return d.State(ctx)
}

// Reseal seals every stored BMC password again (auth.SecretSet).
func (c *Controller) Reseal(ctx context.Context, reseal func(version int, sealed, additional []byte) (int, []byte, error)) (int, []int, error) {
	ms, err := c.st.Machines(ctx)
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var unreadable []int
	for _, m := range ms {
		if !m.Power.HasPassword() {
			continue
		}
		// The store may run fn more than once: only the last run counts.
		var resealed bool
		var badVersion int
		_, err := c.st.UpdateMachine(ctx, m.Name, func(m *boot.Machine) error {
			resealed, badVersion = false, 0
			if !m.Power.HasPassword() {
				return nil
			}
			v, s, err := reseal(m.Power.KeyVersion, m.Power.SealedPassword, sealAD(m.Name))
			if err != nil {
				badVersion = max(m.Power.KeyVersion, 1)
				return nil
			}
			p := *m.Power
			p.KeyVersion, p.SealedPassword = v, s
			m.Power = &p
			resealed = true
			return nil
		})
		if err != nil && !errors.Is(err, boot.ErrNotFound) {
			return n, unreadable, err
		}
		if resealed {
			n++
		}
		if badVersion != 0 {
			c.log.Error("reseal: cannot open a BMC password, left as it is", "machine", m.Name, "version", badVersion)
			unreadable = append(unreadable, badVersion)
		}
	}
	return n, unreadable, nil
}

// SealedVersions counts the stored BMC passwords by key version
// (auth.SecretSet).
func (c *Controller) SealedVersions(ctx context.Context) (map[int]int, error) {
	ms, err := c.st.Machines(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int]int{}
	for _, m := range ms {
		if m.Power.HasPassword() {
			out[max(m.Power.KeyVersion, 1)]++
		}
	}
	return out, nil
}
