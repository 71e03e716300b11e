package power

import (
	"context"
	"fmt"
	"sync"
)

// qmpDriver controls a QEMU VM whose process stays up: "off" is a VM that is
// stopped and reset (QMP status prelaunch, paused or shutdown), "on" one
// that runs. QEMU must run with -no-shutdown, or a guest that powers off
// ends the process and nothing can power it on again.
//
//	on:    system_reset, wait for the RESET event, cont (from firmware)
//	off:   stop, system_reset (the guest's state is gone, as without power)
//	cycle: off then on; on when off
//	reset: system_reset of a running VM; refused when off
type qmpDriver struct {
	addr string
	nic  string
	opts Options
	name string

	mu         sync.Mutex
	pendingPXE bool
}

func newQMP(cfg Config, opts Options) (Driver, error) {
	if _, _, err := qmpNetAddr(cfg.Address); err != nil {
		return nil, err
	}
	return &qmpDriver{addr: cfg.Address, nic: cfg.NIC, opts: opts, name: "QMP at " + cfg.Address}, nil
}

func (d *qmpDriver) String() string { return d.name }

func (d *qmpDriver) fail(op string, err error) error {
	return &Error{Op: op, Machine: d.opts.Machine, Driver: d.name, Err: err}
}

func (d *qmpDriver) dial(ctx context.Context) (*QMPConn, error) {
	return DialQMP(ctx, d.addr, d.opts.Timeout)
}

// qmpOff are the run states byoi calls "off".
var qmpOff = map[string]bool{"prelaunch": true, "paused": true, "shutdown": true}

// QMPState maps a query-status answer's status onto a power state.
func QMPState(status string) State {
	if qmpOff[status] {
		return Off
	}
	return On
}

func qmpStatus(ctx context.Context, q *QMPConn) (State, error) {
	var st struct {
		Status string `json:"status"`
	}
	if err := q.Execute(ctx, "query-status", nil, &st); err != nil {
		return "", err
	}
	return QMPState(st.Status), nil
}

func (d *qmpDriver) State(ctx context.Context) (State, error) {
	q, err := d.dial(ctx)
	if err != nil {
		return "", d.fail(opState, err)
	}
	defer q.Close()
	st, err := qmpStatus(ctx, q)
	if err != nil {
		return "", d.fail(opState, err)
	}
	return st, nil
}

// PXEOnce checks that the VM has a network card with a bootindex and marks
// the next Power call of this driver value to boot from it once.
func (d *qmpDriver) PXEOnce(ctx context.Context, _ bool) error {
	q, err := d.dial(ctx)
	if err != nil {
		return d.fail(opPXE, err)
	}
	defer q.Close()
	if _, _, err := bootDevices(ctx, q, d.nic); err != nil {
		return d.fail(opPXE, err)
	}
	d.mu.Lock()
	d.pendingPXE = true
	d.mu.Unlock()
	return nil
}

func (d *qmpDriver) Power(ctx context.Context, a Action) error {
	q, err := d.dial(ctx)
	if err != nil {
		return d.fail(a.verb(), err)
	}
	defer q.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.power(ctx, q, a); err != nil {
		return d.fail(a.verb(), err)
	}
	d.opts.Logger.DebugContext(ctx, "power action", "machine", d.opts.Machine, "driver", d.name, "action", string(a))
	return nil
}

func (d *qmpDriver) power(ctx context.Context, q *QMPConn, a Action) error {
	st, err := qmpStatus(ctx, q)
	if err != nil {
		return err
	}
	switch a {
	case PowerOn:
		if st == On {
			return nil
		}
		return d.start(ctx, q)
	case PowerOff:
		if st == Off {
			return nil
		}
		return stopVM(ctx, q)
	case Cycle:
		if st == On {
			if err := stopVM(ctx, q); err != nil {
				return err
			}
		}
		return d.start(ctx, q)
	case Reset:
		if st == Off {
			return fmt.Errorf("%w: reset does nothing, power it on or cycle it", ErrPoweredOff)
		}
		return d.reset(ctx, q)
	}
	return fmt.Errorf("unknown power action %q", a)
}

func stopVM(ctx context.Context, q *QMPConn) error {
	if err := q.Execute(ctx, "stop", nil, nil); err != nil {
		return err
	}
	return resetAndWait(ctx, q)
}

// start resets the stopped VM (booting from the network once if asked)
// and lets it run.
func (d *qmpDriver) start(ctx context.Context, q *QMPConn) error {
	if err := d.reset(ctx, q); err != nil {
		return err
	}
	return q.Execute(ctx, "cont", nil, nil)
}

// reset is a system reset that applies a pending one-time PXE boot: the
// NIC goes first for the reset (when QEMU writes the firmware's boot order)
// and every bootindex is restored right after it.
func (d *qmpDriver) reset(ctx context.Context, q *QMPConn) error {
	if !d.pendingPXE {
		return resetAndWait(ctx, q)
	}
	devs, nic, err := bootDevices(ctx, q, d.nic)
	if err != nil {
		return err
	}
	apply, restore, err := pxeFirstPlan(devs, nic)
	if err != nil {
		return err
	}
	if err := setBootIndexes(ctx, q, apply); err != nil {
		return d.undo(ctx, q, devs, err)
	}
	resetErr := resetAndWait(ctx, q)
	if err := setBootIndexes(ctx, q, restore); err != nil {
		return fmt.Errorf("restore the boot order after one-time PXE (the VM's boot order may have changed): %w", err)
	}
	if resetErr != nil {
		return resetErr
	}
	d.pendingPXE = false
	return nil
}

// undo puts every device's bootindex back after a failed apply, whatever
// step failed, and returns the apply error.
func (d *qmpDriver) undo(ctx context.Context, q *QMPConn, devs []bootDev, applyErr error) error {
	for _, dev := range devs {
		_ = q.Execute(ctx, "qom-set", map[string]any{"path": dev.Path, "property": "bootindex", "value": -1}, nil)
	}
	for _, dev := range devs {
		if dev.Index >= 0 {
			if err := q.Execute(ctx, "qom-set", map[string]any{"path": dev.Path, "property": "bootindex", "value": dev.Index}, nil); err != nil {
				return fmt.Errorf("%w; restoring the boot order also failed: %v", applyErr, err)
			}
		}
	}
	return applyErr
}

// resetAndWait asks for a system reset and waits for QEMU's RESET event,
// so that the firmware's boot order has been rewritten when it returns.
func resetAndWait(ctx context.Context, q *QMPConn) error {
	if err := q.Execute(ctx, "system_reset", nil, nil); err != nil {
		return err
	}
	return q.WaitEvent(ctx, "RESET")
}
