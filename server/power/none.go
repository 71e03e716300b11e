package power

import (
	"context"
	"fmt"
)

// noneDriver is a machine without power control: every action is an error
// that tells the operator to act by hand.
type noneDriver struct{ machine string }

func (d noneDriver) err(what string) error {
	m := d.machine
	if m == "" {
		m = "this machine"
	}
	return fmt.Errorf("%w for %s: %s by hand", ErrNoDriver, m, what)
}

func (d noneDriver) State(context.Context) (State, error) {
	return "", d.err("check its power")
}

func (d noneDriver) Power(_ context.Context, a Action) error {
	if a == Cycle {
		return d.err("power-cycle it")
	}
	return d.err(a.verb() + " it")
}

func (d noneDriver) PXEOnce(context.Context, bool) error {
	return d.err("boot it from the network")
}

func (d noneDriver) String() string { return "no power driver" }
