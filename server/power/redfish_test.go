package power_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/e2e/bmc"
	"github.com/byoi/byoi/server/power"
)

// machine is the powered thing behind the test Redfish service: it keeps a
// state and records what it was asked.
type machine struct {
	mu    sync.Mutex
	state power.State
	log   []string
}

func (m *machine) State(context.Context) (power.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state, nil
}

func (m *machine) Power(_ context.Context, a power.Action) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a == power.Reset && m.state == power.Off {
		return power.ErrPoweredOff
	}
	m.log = append(m.log, string(a))
	m.state = power.On
	if a == power.PowerOff {
		m.state = power.Off
	}
	return nil
}

func (m *machine) PXEOnce(_ context.Context, uefi bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = append(m.log, map[bool]string{true: "pxe-uefi", false: "pxe-legacy"}[uefi])
	return nil
}

func (m *machine) String() string { return "test machine" }

func redfishDriver(t *testing.T, url, user, password string, timeout time.Duration) power.Driver {
	t.Helper()
	d, err := power.New(power.Config{Driver: "redfish", Address: url, Username: user, Password: password, InsecureTLS: true},
		power.Options{Machine: "rack1-08", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRedfishService runs the driver against e2e/bmc's Redfish service over
// TLS: states, reset types, the one-time PXE override and its consumption.
func TestRedfishService(t *testing.T) {
	m := &machine{state: power.Off}
	svc := &bmc.RedfishService{Backend: m, User: "root", Password: secret}
	srv := httptest.NewTLSServer(svc)
	defer srv.Close()
	d := redfishDriver(t, srv.URL, "root", secret, 5*time.Second)
	ctx := context.Background()

	steps := []struct {
		name string
		do   func() error
	}{
		{"on", func() error { return d.Power(ctx, power.PowerOn) }},
		{"on again", func() error { return d.Power(ctx, power.PowerOn) }},
		{"reset", func() error { return d.Power(ctx, power.Reset) }},
		{"pxe legacy", func() error { return d.PXEOnce(ctx, false) }},
		{"cycle", func() error { return d.Power(ctx, power.Cycle) }},
		{"off", func() error { return d.Power(ctx, power.PowerOff) }},
		{"off again", func() error { return d.Power(ctx, power.PowerOff) }},
		{"cycle to pxe", func() error { return power.CycleToPXE(ctx, d, true, power.RetryOptions{Attempts: 1}) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if st, err := d.State(ctx); err != nil || st != power.On {
		t.Fatalf("State() = %v, %v; want on", st, err)
	}
	wantMachine := []string{"on", "reset", "pxe-legacy", "cycle", "off", "pxe-uefi", "on"}
	if diff := cmp.Diff(wantMachine, m.log); diff != "" {
		t.Errorf("machine actions mismatch (-want +got):\n%s", diff)
	}
	// PowerCycle is offered, so a cycle of a machine that is on uses it; a
	// cycle of a machine that is off is On.
	wantResets := []string{"On", "ForceRestart", "PowerCycle", "ForceOff", "On"}
	if diff := cmp.Diff(wantResets, svc.Resets()); diff != "" {
		t.Errorf("reset types mismatch (-want +got):\n%s", diff)
	}
	if err := d.Power(ctx, power.PowerOff); err != nil {
		t.Fatal(err)
	}
	err := d.Power(ctx, power.Reset)
	checkErr(t, err, power.ErrPoweredOff, "could not reset rack1-08 via Redfish at "+srv.URL)
}

// recorder is a Redfish service stub for one system whose answers a test
// sets; it records the requests' bodies.
type recorder struct {
	mu      sync.Mutex
	status  map[string]int    // "METHOD path" → status
	body    map[string]string // "METHOD path" → response body
	reqs    []string
	allowed []string
	delay   time.Duration
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	key := req.Method + " " + strings.TrimSuffix(req.URL.Path, "/")
	r.mu.Lock()
	r.reqs = append(r.reqs, strings.TrimSpace(key+" "+string(b)))
	st, hasSt := r.status[key]
	body := r.body[key]
	r.mu.Unlock()
	if r.delay > 0 && key != "GET /redfish/v1" {
		time.Sleep(r.delay)
	}
	w.Header().Set("Content-Type", "application/json")
	if hasSt {
		w.WriteHeader(st)
		io.WriteString(w, body)
		return
	}
	switch key {
	case "GET /redfish/v1":
		io.WriteString(w, `{"@odata.id": "/redfish/v1/", "RedfishVersion": "1.6.0", "Systems": {"@odata.id": "/redfish/v1/Systems"}}`)
	case "GET /redfish/v1/Systems":
		io.WriteString(w, `{"Members": [{"@odata.id": "/redfish/v1/Systems/1"}], "Members@odata.count": 1}`)
	case "GET /redfish/v1/Systems/1":
		allowed, _ := json.Marshal(r.allowed)
		io.WriteString(w, `{"@odata.id": "/redfish/v1/Systems/1", "Id": "1", "PowerState": "On",
			"Actions": {"#ComputerSystem.Reset": {"target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
			"ResetType@Redfish.AllowableValues": `+string(allowed)+`}}}`)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

const badRequestBody = `{"error": {"code": "Base.1.8.GeneralError", "message": "A general error has occurred. See ExtendedInfo for more information.",
	"@Message.ExtendedInfo": [{"MessageId": "Base.1.8.PropertyValueNotInList", "Message": "The value Pxe for the property BootSourceOverrideTarget is not in the list of acceptable values."}]}}`

func TestRedfishErrors(t *testing.T) {
	const sys = "/redfish/v1/Systems/1"
	tests := []struct {
		name    string
		rec     *recorder
		call    func(ctx context.Context, d power.Driver) error
		wantIs  error
		wantMsg []string
	}{
		{"bad credentials",
			&recorder{status: map[string]int{"GET /redfish/v1/Systems": 401},
				body: map[string]string{"GET /redfish/v1/Systems": `{"error": {"code": "Base.1.8.NoValidSession", "message": "There is no valid session established with the implementation."}}`}},
			func(ctx context.Context, d power.Driver) error { _, err := d.State(ctx); return err },
			power.ErrAuth, []string{"could not read the power state of rack1-08 via Redfish at", "HTTP 401: Base.1.8.NoValidSession: There is no valid session"}},
		{"boot override refused",
			&recorder{status: map[string]int{"PATCH " + sys: 400}, body: map[string]string{"PATCH " + sys: badRequestBody}},
			func(ctx context.Context, d power.Driver) error { return d.PXEOnce(ctx, true) },
			power.ErrRefused, []string{"could not set one-time PXE boot for rack1-08", "HTTP 400", "not in the list of acceptable values"}},
		{"reset fails",
			&recorder{status: map[string]int{"POST " + sys + "/Actions/ComputerSystem.Reset": 500},
				body: map[string]string{"POST " + sys + "/Actions/ComputerSystem.Reset": `{"error": {"code": "Base.1.8.InternalError", "message": "The request failed due to an internal service error.  The service is still operational."}}`}},
			func(ctx context.Context, d power.Driver) error { return d.Power(ctx, power.Cycle) },
			power.ErrRefused, []string{"could not power-cycle rack1-08", "HTTP 500: Base.1.8.InternalError: The request failed due to an internal service error. The service is still operational."}},
		{"error without body",
			&recorder{status: map[string]int{"POST " + sys + "/Actions/ComputerSystem.Reset": 503}},
			func(ctx context.Context, d power.Driver) error { return d.Power(ctx, power.PowerOff) },
			power.ErrRefused, []string{"HTTP 503: no error body"}},
		{"error echoing the password",
			&recorder{status: map[string]int{"GET /redfish/v1/Systems": 403},
				body: map[string]string{"GET /redfish/v1/Systems": `{"error": {"code": "X", "message": "password ` + secret + ` is wrong"}}`}},
			func(ctx context.Context, d power.Driver) error { _, err := d.State(ctx); return err },
			power.ErrAuth, []string{"password <redacted> is wrong"}},
		{"unknown power state",
			&recorder{status: map[string]int{"GET " + sys: 200}, body: map[string]string{"GET " + sys: `{"Id": "1", "PowerState": "Exploding"}`}},
			func(ctx context.Context, d power.Driver) error { _, err := d.State(ctx); return err },
			nil, []string{`the service reports power state "Exploding"`}},
		{"no answer in time",
			&recorder{delay: 2 * time.Second},
			func(ctx context.Context, d power.Driver) error { _, err := d.State(ctx); return err },
			power.ErrUnreachable, []string{"could not read the power state of rack1-08"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.rec)
			defer srv.Close()
			d := redfishDriver(t, srv.URL, "root", secret, 500*time.Millisecond)
			start := time.Now()
			err := tt.call(context.Background(), d)
			checkErr(t, err, tt.wantIs, tt.wantMsg...)
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("call took %v, want it bounded by the timeout", el)
			}
		})
	}
}

func TestRedfishRequests(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		call    func(ctx context.Context, d power.Driver) error
		want    string // the last request
	}{
		{"pxe once uefi", nil, func(ctx context.Context, d power.Driver) error { return d.PXEOnce(ctx, true) },
			`PATCH /redfish/v1/Systems/1 {"Boot":{"BootSourceOverrideEnabled":"Once","BootSourceOverrideMode":"UEFI","BootSourceOverrideTarget":"Pxe"}}`},
		{"pxe once legacy", nil, func(ctx context.Context, d power.Driver) error { return d.PXEOnce(ctx, false) },
			`PATCH /redfish/v1/Systems/1 {"Boot":{"BootSourceOverrideEnabled":"Once","BootSourceOverrideMode":"Legacy","BootSourceOverrideTarget":"Pxe"}}`},
		{"cycle with PowerCycle offered", []string{"On", "ForceOff", "ForceRestart", "PowerCycle"},
			func(ctx context.Context, d power.Driver) error { return d.Power(ctx, power.Cycle) },
			`POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset {"ResetType":"PowerCycle"}`},
		{"cycle without PowerCycle", []string{"On", "ForceOff", "ForceRestart"},
			func(ctx context.Context, d power.Driver) error { return d.Power(ctx, power.Cycle) },
			`POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset {"ResetType":"ForceRestart"}`},
		{"cycle, nothing advertised", nil,
			func(ctx context.Context, d power.Driver) error { return d.Power(ctx, power.Cycle) },
			`POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset {"ResetType":"ForceRestart"}`},
		{"off", nil, func(ctx context.Context, d power.Driver) error { return d.Power(ctx, power.PowerOff) },
			`POST /redfish/v1/Systems/1/Actions/ComputerSystem.Reset {"ResetType":"ForceOff"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{allowed: tt.allowed}
			srv := httptest.NewTLSServer(rec)
			defer srv.Close()
			if err := tt.call(context.Background(), redfishDriver(t, srv.URL, "root", secret, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if got := rec.reqs[len(rec.reqs)-1]; got != tt.want {
				t.Errorf("last request = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRedfishUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	d := redfishDriver(t, "https://"+addr, "root", secret, time.Second)
	_, err = d.State(context.Background())
	checkErr(t, err, power.ErrUnreachable, "could not read the power state of rack1-08 via Redfish at https://"+addr)
}

func TestRedfishSelfSignedRefused(t *testing.T) {
	srv := httptest.NewUnstartedServer(&recorder{})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	d, err := power.New(power.Config{Driver: "redfish", Address: srv.URL, Username: "root", Password: secret},
		power.Options{Machine: "rack1-08"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.State(context.Background())
	checkErr(t, err, nil, "certificate")
	if errors.Is(err, power.ErrAuth) {
		t.Errorf("a TLS failure = %v, want it not to look like bad credentials", err)
	}
}
