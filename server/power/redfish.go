package power

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/schemas"
)

// redfishDriver talks to a Redfish service with gofish, HTTP basic
// authentication (every Redfish service must accept it; no session to leak)
// and one connection per call.
type redfishDriver struct {
	endpoint string
	cfg      Config
	opts     Options
	name     string
}

func newRedfish(cfg Config, opts Options) (Driver, error) {
	ep, err := redfishEndpoint(cfg.Address)
	if err != nil {
		return nil, err
	}
	return &redfishDriver{endpoint: ep, cfg: cfg, opts: opts, name: "Redfish at " + ep}, nil
}

func (d *redfishDriver) String() string { return d.name }

func (d *redfishDriver) fail(op string, err error) error {
	return &Error{Op: op, Machine: d.opts.Machine, Driver: d.name, Err: redact(err, d.cfg.Password)}
}

// system connects, finds the machine's ComputerSystem and runs fn with it.
func (d *redfishDriver) system(ctx context.Context, fn func(sys *schemas.ComputerSystem) error) error {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if d.cfg.InsecureTLS {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // operator's choice, documented
	}
	hc := &http.Client{Transport: tr, Timeout: d.opts.Timeout,
		// A BMC that redirects must not receive the password elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer hc.CloseIdleConnections()
	c, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint: d.endpoint, Username: d.cfg.Username, Password: d.cfg.Password,
		BasicAuth: true, HTTPClient: hc, NoModifyTransport: true,
	})
	if err != nil {
		return classifyRedfish(ctx, err, d.cfg.Password)
	}
	systems, err := listSystems(c)
	if err != nil {
		return classifyRedfish(ctx, err, d.cfg.Password)
	}
	sys, err := pickSystem(systems, d.cfg.System)
	if err != nil {
		return err
	}
	if err := fn(sys); err != nil {
		return classifyRedfish(ctx, err, d.cfg.Password)
	}
	return nil
}

// listSystems reads the ServiceRoot's Systems link and each member, so that
// an HTTP error comes back as the service's *schemas.Error (gofish's own
// Systems() folds member errors into one string).
func listSystems(c *gofish.APIClient) ([]*schemas.ComputerSystem, error) {
	resp, err := c.Get("/redfish/v1/")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var root struct {
		Systems struct {
			ID string `json:"@odata.id"`
		}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&root); err != nil {
		return nil, fmt.Errorf("service root: %w", err)
	}
	if root.Systems.ID == "" {
		return nil, errors.New("the service root has no Systems link")
	}
	coll, err := schemas.GetCollection(c, root.Systems.ID)
	if err != nil {
		return nil, err
	}
	var systems []*schemas.ComputerSystem
	for _, link := range coll.ItemLinks {
		sys, err := schemas.GetComputerSystem(c, link)
		if err != nil {
			return nil, err
		}
		systems = append(systems, sys)
	}
	return systems, nil
}

func pickSystem(systems []*schemas.ComputerSystem, want string) (*schemas.ComputerSystem, error) {
	var ids []string
	for _, s := range systems {
		if want != "" && (s.ID == want || strings.TrimSuffix(s.ODataID, "/") == strings.TrimSuffix(want, "/")) {
			return s, nil
		}
		ids = append(ids, s.ID)
	}
	switch {
	case want != "":
		return nil, fmt.Errorf("the service has no system %q (it has %s)", want, strings.Join(ids, ", "))
	case len(systems) == 1:
		return systems[0], nil
	case len(systems) == 0:
		return nil, errors.New("the service lists no system")
	}
	return nil, fmt.Errorf("the service has %d systems (%s): set system", len(systems), strings.Join(ids, ", "))
}

// classifyRedfish maps HTTP statuses onto the sentinels, keeping the
// service's own message (code, message, extended info), and makes sure the
// password never comes back in it.
func classifyRedfish(ctx context.Context, err error, password string) error {
	var re *schemas.Error
	if errors.As(err, &re) {
		msg := redfishMessage(re)
		if password != "" {
			msg = strings.ReplaceAll(msg, password, "<redacted>")
		}
		switch code := re.HTTPReturnedStatusCode; {
		case code == http.StatusUnauthorized || code == http.StatusForbidden:
			return fmt.Errorf("%w: HTTP %d: %s", ErrAuth, code, msg)
		case code >= 400:
			return fmt.Errorf("%w: HTTP %d: %s", ErrRefused, code, msg)
		}
		return fmt.Errorf("HTTP %d: %s", re.HTTPReturnedStatusCode, msg)
	}
	var ue *tls.CertificateVerificationError
	if errors.As(err, &ue) {
		return fmt.Errorf("%w (set insecureTLS to accept a self-signed certificate)", err)
	}
	if ctx.Err() != nil || isNetErr(err) || strings.Contains(err.Error(), "Client.Timeout") {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return err
}

// redfishMessage is the error body in one short line.
func redfishMessage(re *schemas.Error) string {
	parts := []string{}
	if re.Code != "" {
		parts = append(parts, re.Code)
	}
	if re.Message != "" {
		parts = append(parts, strings.TrimSpace(re.Message))
	}
	for _, x := range re.ExtendedInfos {
		if x.Message != "" && !slices.Contains(parts, x.Message) {
			parts = append(parts, x.Message)
		}
	}
	msg := strings.Join(parts, ": ")
	if msg == "" {
		msg = "no error body"
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	return msg
}

// redfishState maps PowerState onto On/Off: PoweringOn and Paused count as
// on, PoweringOff as off.
func redfishState(ps schemas.PowerState) (State, error) {
	switch ps {
	case schemas.OnPowerState, schemas.PoweringOnPowerState, schemas.PausedPowerState:
		return On, nil
	case schemas.OffPowerState, schemas.PoweringOffPowerState:
		return Off, nil
	}
	return "", fmt.Errorf("the service reports power state %q", ps)
}

func (d *redfishDriver) State(ctx context.Context) (State, error) {
	var st State
	err := d.system(ctx, func(sys *schemas.ComputerSystem) error {
		s, err := redfishState(sys.PowerState)
		st = s
		return err
	})
	if err != nil {
		return "", d.fail(opState, err)
	}
	return st, nil
}

// resetTypeFor picks the ResetType for an action on a system in state st:
// PowerCycle where offered, else ForceRestart; On for a cycle of a machine
// that is off.
func resetTypeFor(a Action, st State, allowed []schemas.ResetType) (schemas.ResetType, error) {
	offers := func(t schemas.ResetType) bool { return len(allowed) == 0 || slices.Contains(allowed, t) }
	switch a {
	case PowerOn:
		return schemas.OnResetType, nil
	case PowerOff:
		return schemas.ForceOffResetType, nil
	case Reset:
		if st == Off {
			return "", fmt.Errorf("%w: reset does nothing, power it on or cycle it", ErrPoweredOff)
		}
		return schemas.ForceRestartResetType, nil
	case Cycle:
		if st == Off {
			return schemas.OnResetType, nil
		}
		if len(allowed) > 0 && offers(schemas.PowerCycleResetType) {
			return schemas.PowerCycleResetType, nil
		}
		return schemas.ForceRestartResetType, nil
	}
	return "", fmt.Errorf("unknown power action %q", a)
}

func (d *redfishDriver) Power(ctx context.Context, a Action) error {
	var used schemas.ResetType
	err := d.system(ctx, func(sys *schemas.ComputerSystem) error {
		st, err := redfishState(sys.PowerState)
		if err != nil {
			return err
		}
		if (a == PowerOn && st == On) || (a == PowerOff && st == Off) {
			return nil // Redfish services may answer 409 to On when on
		}
		allowed, _ := sys.GetSupportedResetTypes()
		rt, err := resetTypeFor(a, st, allowed)
		if err != nil {
			return err
		}
		used = rt
		_, err = sys.Reset(rt)
		return err
	})
	if err != nil {
		return d.fail(a.verb(), err)
	}
	d.opts.Logger.DebugContext(ctx, "power action", "machine", d.opts.Machine, "driver", d.name,
		"action", string(a), "resetType", string(used))
	return nil
}

// PXEOnce PATCHes Boot: BootSourceOverrideTarget Pxe, Enabled Once, Mode UEFI
// or Legacy (the override applies to the next boot only).
func (d *redfishDriver) PXEOnce(ctx context.Context, uefi bool) error {
	mode := schemas.LegacyBootSourceOverrideMode
	if uefi {
		mode = schemas.UEFIBootSourceOverrideMode
	}
	err := d.system(ctx, func(sys *schemas.ComputerSystem) error {
		return sys.SetBoot(&schemas.Boot{
			BootSourceOverrideTarget:  schemas.PxeBootSource,
			BootSourceOverrideEnabled: schemas.OnceBootSourceOverrideEnabled,
			BootSourceOverrideMode:    mode,
		})
	})
	if err != nil {
		return d.fail(opPXE, err)
	}
	return nil
}
