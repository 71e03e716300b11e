// Package power drives machines' power and one-time network boot through
// their baseboard management controllers: IPMI v2 over LAN (lanplus), Redfish,
// and QEMU's machine protocol (QMP) for labs of virtual machines.
//
// A driver is made from a machine's stored settings and used for one or a few
// actions; it holds no connection between calls:
//
//	d, err := power.New(power.Config{Driver: "ipmi", Address: "198.51.100.20",
//		Username: "admin", Password: pw}, power.Options{Machine: "rack1-07"})
//	if err != nil { … }                 // bad settings, never a network error
//	st, err := d.State(ctx)             // power.On or power.Off
//	err = power.CycleToPXE(ctx, d, true, power.RetryOptions{}) // reinstall
//
// Every error names the action, the machine, the driver and its address
// ("could not power-cycle rack1-07 via IPMI at 198.51.100.20: …") and never
// the password. A BMC that refuses a command (an IPMI completion code, a
// Redfish 4xx/5xx, a QMP error reply) is an error, never a success.
//
// Libraries: IPMI uses github.com/bougou/go-ipmi (pure Go RMCP+ with the
// cipher suites ipmitool uses, typed completion codes, maintained: releases
// through 2026); Redfish uses github.com/stmcginnis/gofish; QMP is a small
// client of this package (a JSON line protocol of four messages). See
// docs/power.md for the reasons and what one-time PXE means per driver.
package power

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// State is a machine's power state.
type State string

// Power states. OVH's machine object calls them poweron and poweroff
// (OVHState).
const (
	On  State = "on"
	Off State = "off"
)

// OVHState returns the state as OVH's powerState field spells it.
func (s State) OVHState() string {
	if s == On {
		return "poweron"
	}
	return "poweroff"
}

// Action is a power action.
type Action string

// Power actions.
const (
	// PowerOn powers the machine on; a machine that is on stays as it is.
	PowerOn Action = "on"
	// PowerOff cuts power at once (no ACPI shutdown).
	PowerOff Action = "off"
	// Cycle powers the machine off and on again, or on when it is off.
	Cycle Action = "cycle"
	// Reset is a hard reset of a machine that is on. A machine that is off
	// stays off (the BMC may refuse): use Cycle to also power it on.
	Reset Action = "reset"
)

// ParseAction maps a CLI word (on, off, cycle, reset) to an Action.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case PowerOn, PowerOff, Cycle, Reset:
		return a, nil
	}
	return "", fmt.Errorf("unknown power action %q: want on, off, cycle or reset", s)
}

// verb is the action as the error messages say it.
func (a Action) verb() string {
	switch a {
	case PowerOn:
		return "power on"
	case PowerOff:
		return "power off"
	case Cycle:
		return "power-cycle"
	case Reset:
		return "reset"
	}
	return string(a)
}

// Driver controls one machine's power through its BMC.
type Driver interface {
	// State reports whether the machine is on or off.
	State(ctx context.Context) (State, error)
	// Power performs the action and returns once the BMC accepted it.
	Power(ctx context.Context, a Action) error
	// PXEOnce asks for one network boot at the next power-on or reset, UEFI
	// or legacy as the machine boots. It never changes the persistent boot
	// order. For QMP the request lives in this Driver value and is applied
	// by its next Power call (see docs/power.md).
	PXEOnce(ctx context.Context, uefi bool) error
	// String names the driver and its address ("IPMI at 198.51.100.20"),
	// never a password.
	String() string
}

// Options are the knobs of New that are not a machine's settings. The zero
// value works.
type Options struct {
	// Machine is the machine's name, used in error messages.
	Machine string
	// Timeout bounds one BMC exchange (an IPMI request, an HTTP request, a
	// QMP command). Zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives one debug line per BMC action; nil discards.
	Logger *slog.Logger
}

// DefaultTimeout is Options.Timeout's default.
const DefaultTimeout = 10 * time.Second

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// New returns the driver cfg names. It validates cfg and contacts nothing.
func New(cfg Config, opts Options) (Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	switch cfg.driver() {
	case DriverIPMI:
		return newIPMI(cfg, opts)
	case DriverRedfish:
		return newRedfish(cfg, opts)
	case DriverQMP:
		return newQMP(cfg, opts)
	}
	return noneDriver{machine: opts.Machine}, nil
}

// Sentinel errors, checked with errors.Is.
var (
	// ErrNoDriver: the machine has no power driver; a person must act.
	ErrNoDriver = errors.New("no power driver configured")
	// ErrUnreachable: the BMC did not answer (timeout, refused connection,
	// no route).
	ErrUnreachable = errors.New("BMC unreachable")
	// ErrAuth: the BMC refused the credentials.
	ErrAuth = errors.New("BMC refused the credentials")
	// ErrRefused: the BMC answered and refused the command.
	ErrRefused = errors.New("BMC refused the command")
	// ErrPoweredOff: the action needs a machine that is on.
	ErrPoweredOff = errors.New("machine is powered off")
)

// Error is what every driver returns: the operation, the machine and the
// driver, around the cause.
type Error struct {
	Op      string // "power-cycle", "read the power state of", "set one-time PXE boot for"
	Machine string // may be empty
	Driver  string // "IPMI at 198.51.100.20"
	Err     error
}

func (e *Error) Error() string {
	m := e.Machine
	if m == "" {
		m = "the machine"
	}
	return fmt.Sprintf("could not %s %s via %s: %v", e.Op, m, e.Driver, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Ops for Error.Op besides the actions' verbs.
const (
	opState = "read the power state of"
	opPXE   = "set one-time PXE boot for"
)

// redacted is an error whose text has the password replaced; errors.Is and
// errors.As still see the cause.
type redacted struct {
	err error
	pw  string
}

func (r redacted) Error() string { return strings.ReplaceAll(r.err.Error(), r.pw, "<redacted>") }
func (r redacted) Unwrap() error { return r.err }

// redact hides the password in err's text, whatever layer put it there (a
// BMC that echoes the request, a library that prints its input).
func redact(err error, password string) error {
	if err == nil || password == "" || !strings.Contains(err.Error(), password) {
		return err
	}
	return redacted{err, password}
}
