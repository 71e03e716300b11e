package power

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// ipmiDriver speaks IPMI v2.0 over LAN (RMCP+, "lanplus") with one session
// per call. It offers cipher suite 3 first (HMAC-SHA1, AES-128: what
// `ipmitool -C 3` uses and every BMC since 2008 supports), then 17.
type ipmiDriver struct {
	host     string
	port     int
	username string
	password string
	opts     Options
	name     string
}

func newIPMI(cfg Config, opts Options) (Driver, error) {
	host, port, err := ipmiHostPort(cfg.Address)
	if err != nil {
		return nil, err
	}
	return &ipmiDriver{host: host, port: port, username: cfg.Username, password: cfg.Password,
		opts: opts, name: "IPMI at " + cfg.Address}, nil
}

func (d *ipmiDriver) String() string { return d.name }

func (d *ipmiDriver) fail(op string, err error) error {
	return &Error{Op: op, Machine: d.opts.Machine, Driver: d.name, Err: redact(err, d.password)}
}

// session opens an RMCP+ session, runs fn and closes the session.
func (d *ipmiDriver) session(ctx context.Context, fn func(ctx context.Context, c *client.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, 3*d.opts.Timeout)
	defer cancel()
	c, err := client.NewClient(d.host, d.port, d.username, d.password)
	if err != nil {
		return fmt.Errorf("ipmi client: %w", err)
	}
	// One try per request within Timeout: CycleToPXE retries the whole action.
	per := max(d.opts.Timeout/3, 500*time.Millisecond)
	c.WithTimeout(per).WithRetry(2).
		WithCipherSuiteID(types.CipherSuiteID3, types.CipherSuiteID17).
		WithMaxPrivilegeLevel(types.PrivilegeLevelAdministrator)
	if err := c.Connect(ctx); err != nil {
		return classifyIPMI(ctx, err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), per)
		defer ccancel()
		_ = c.Close(cctx)
	}()
	if err := fn(ctx, c); err != nil {
		return classifyIPMI(ctx, err)
	}
	return nil
}

// classifyIPMI maps the library's errors onto the package's sentinels,
// keeping the BMC's words (completion code and its meaning).
func classifyIPMI(ctx context.Context, err error) error {
	for _, known := range []error{ErrRefused, ErrPoweredOff, ErrAuth, ErrUnreachable} {
		if errors.Is(err, known) {
			return err // ours already
		}
	}
	if re, ok := types.IsResponseError(err); ok {
		return fmt.Errorf("%w: completion code %#02x (%s)", ErrRefused, uint8(re.CompletionCode()), re.CompletionCode())
	}
	msg := err.Error()
	switch {
	case errors.Is(err, client.ErrRAKPAuthentication) || strings.Contains(msg, client.ErrRAKPAuthentication.Error()):
		return fmt.Errorf("%w: wrong username or password (RAKP authentication failed)", ErrAuth)
	case containsFold(msg, "unauthorized name") || containsFold(msg, "invalid role"):
		return fmt.Errorf("%w: the BMC does not know the user or does not give it the administrator privilege (%s)",
			ErrAuth, lineWith(msg, "unauthorized name", "invalid role"))
	case ctx.Err() != nil:
		return fmt.Errorf("%w: no answer in time (%v)", ErrUnreachable, ctx.Err())
	case isNetErr(err) || strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline") ||
		strings.Contains(msg, "no matching IPMI response") || strings.Contains(msg, "connection refused"):
		return fmt.Errorf("%w: %s", ErrUnreachable, lastLine(msg))
	}
	return errors.New(lastLine(msg))
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, os.ErrDeadlineExceeded)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}

// lineWith returns the first line of s holding one of subs (any case).
func lineWith(s string, subs ...string) string {
	for _, l := range strings.Split(s, "\n") {
		for _, sub := range subs {
			if containsFold(l, sub) {
				return strings.TrimSpace(l)
			}
		}
	}
	return lastLine(s)
}

// lastLine keeps the last line of the library's multi-line errors (it lists
// every cipher suite it tried).
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[i+1:])
	}
	return s
}

func (d *ipmiDriver) State(ctx context.Context) (State, error) {
	var st State
	err := d.session(ctx, func(ctx context.Context, c *client.Client) error {
		s, err := ipmiState(ctx, c)
		st = s
		return err
	})
	if err != nil {
		return "", d.fail(opState, err)
	}
	return st, nil
}

func ipmiState(ctx context.Context, c *client.Client) (State, error) {
	res, err := c.GetChassisStatus(ctx)
	if err != nil {
		return "", err
	}
	if res.PowerIsOn {
		return On, nil
	}
	return Off, nil
}

func (d *ipmiDriver) Power(ctx context.Context, a Action) error {
	err := d.session(ctx, func(ctx context.Context, c *client.Client) error {
		ctl := map[Action]chassis.ChassisControl{
			PowerOn: chassis.ChassisControlPowerUp, PowerOff: chassis.ChassisControlPowerDown,
			Cycle: chassis.ChassisControlPowerCycle, Reset: chassis.ChassisControlHardReset,
		}
		control, ok := ctl[a]
		if !ok {
			return fmt.Errorf("unknown power action %q", a)
		}
		if a == Cycle || a == Reset {
			// A power cycle of a machine that is off does nothing on many
			// BMCs (the spec allows it): power it on instead.
			st, err := ipmiState(ctx, c)
			if err != nil {
				return err
			}
			if st == Off && a == Cycle {
				control = chassis.ChassisControlPowerUp
			}
			if st == Off && a == Reset {
				return fmt.Errorf("%w: reset does nothing, power it on or cycle it", ErrPoweredOff)
			}
		}
		_, err := c.ChassisControl(ctx, control)
		return err
	})
	if err != nil {
		return d.fail(a.verb(), err)
	}
	d.opts.Logger.DebugContext(ctx, "power action", "machine", d.opts.Machine, "driver", d.name, "action", string(a))
	return nil
}

// PXEOnce sets the boot flags (parameter 5) to "force PXE", valid, for the
// next boot only, with the BIOS boot type bit set for UEFI.
func (d *ipmiDriver) PXEOnce(ctx context.Context, uefi bool) error {
	err := d.session(ctx, func(ctx context.Context, c *client.Client) error {
		bt := types.BIOSBootTypeLegacy
		if uefi {
			bt = types.BIOSBootTypeEFI
		}
		if err := c.SetBootDevice(ctx, types.BootDeviceSelectorForcePXE, bt, false); err != nil {
			return err
		}
		// Read it back: a BMC that answered "done" but keeps another
		// device must not count as a success. A BMC that cannot report
		// its boot flags is taken at its word.
		flags := &types.BootOptionParam_BootFlags{}
		if err := c.GetSystemBootOptionsParamFor(ctx, flags); err != nil {
			if _, ok := types.IsResponseError(err); ok {
				return nil
			}
			return err
		}
		if flags.BootDeviceSelector != types.BootDeviceSelectorForcePXE {
			return fmt.Errorf("%w: the BMC accepted PXE as boot device but reports %q", ErrRefused, flags.BootDeviceSelector.String())
		}
		return nil
	})
	if err != nil {
		return d.fail(opPXE, err)
	}
	return nil
}
