package bmc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/byoi/byoi/server/power"
)

// memMachine is a machine in memory behind the service.
type memMachine struct{ state power.State }

func (m *memMachine) State(context.Context) (power.State, error) { return m.state, nil }
func (m *memMachine) Power(_ context.Context, a power.Action) error {
	if a == power.Reset && m.state == power.Off {
		return power.ErrPoweredOff
	}
	m.state = power.On
	if a == power.PowerOff {
		m.state = power.Off
	}
	return nil
}
func (m *memMachine) PXEOnce(context.Context, bool) error { return nil }
func (m *memMachine) String() string                      { return "memory" }

// TestRedfishServiceProtocol checks the service's answers to requests a
// Redfish client may send, right or wrong: status, error MessageId, headers.
func TestRedfishServiceProtocol(t *testing.T) {
	svc := &RedfishService{Backend: &memMachine{state: power.Off}, User: "root", Password: "pw", UEFI: true}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	sys := srv.URL + "/redfish/v1/Systems/vm0"
	tests := []struct {
		name, method, url, body string
		auth                    bool
		header                  map[string]string
		wantStatus              int
		wantInBody              string
	}{
		{"versions without auth", "GET", srv.URL + "/redfish", "", false, nil, 200, `"v1":"/redfish/v1/"`},
		{"service root without auth", "GET", srv.URL + "/redfish/v1/", "", false, nil, 200, `"RedfishVersion":"1.6.0"`},
		{"systems need auth", "GET", srv.URL + "/redfish/v1/Systems", "", false, nil, 401, "Base.1.8.NoValidSession"},
		{"wrong password", "GET", sys, "", false, map[string]string{"Authorization": "Basic cm9vdDp3cm9uZw=="}, 401, "NoValidSession"},
		{"system", "GET", sys, "", true, nil, 200, `"PowerState":"Off"`},
		{"unknown resource", "GET", srv.URL + "/redfish/v1/Chassis", "", true, nil, 404, "Base.1.8.ResourceMissingAtURI"},
		{"delete a system", "DELETE", sys, "", true, nil, 405, "Base.1.8.OperationNotAllowed"},
		{"patch bad json", "PATCH", sys, "{", true, nil, 400, "Base.1.8.MalformedJSON"},
		{"patch read-only property", "PATCH", sys, `{"PowerState": "On"}`, true, nil, 400, "Base.1.8.PropertyNotWritable"},
		{"patch continuous", "PATCH", sys, `{"Boot": {"BootSourceOverrideEnabled": "Continuous"}}`, true, nil, 400, "Base.1.8.PropertyValueNotInList"},
		{"patch unknown target", "PATCH", sys, `{"Boot": {"BootSourceOverrideTarget": "Floppy"}}`, true, nil, 400, "PropertyValueNotInList"},
		{"patch stale etag", "PATCH", sys, `{"Boot": {"BootSourceOverrideTarget": "Pxe"}}`, true, map[string]string{"If-Match": `W/"41"`}, 412, "Base.1.8.PreconditionFailed"},
		{"patch once pxe", "PATCH", sys, `{"Boot": {"BootSourceOverrideEnabled": "Once", "BootSourceOverrideTarget": "Pxe"}}`, true, map[string]string{"If-Match": `W/"0"`}, 200, `"BootSourceOverrideTarget":"Pxe"`},
		{"reset unknown type", "POST", sys + "/Actions/ComputerSystem.Reset", `{"ResetType": "Nmi"}`, true, nil, 400, "Base.1.8.ActionParameterValueNotInList"},
		{"restart when off", "POST", sys + "/Actions/ComputerSystem.Reset", `{"ResetType": "ForceRestart"}`, true, nil, 409, "Base.1.8.ResourceInStandby"},
		{"on consumes the override", "POST", sys + "/Actions/ComputerSystem.Reset", `{"ResetType": "On"}`, true, nil, 204, ""},
		{"override consumed", "GET", sys, "", true, nil, 200, `"BootSourceOverrideEnabled":"Disabled"`},
		{"login wrong password", "POST", srv.URL + "/redfish/v1/SessionService/Sessions", `{"UserName": "root", "Password": "no"}`, false, nil, 401, "NoValidSession"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth {
				req.SetBasicAuth("root", "pw")
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(b), tt.wantInBody) {
				t.Fatalf("%s %s = %d %s, want %d with %q", tt.method, tt.url, resp.StatusCode, b, tt.wantStatus, tt.wantInBody)
			}
			if resp.Header.Get("OData-Version") != "4.0" {
				t.Errorf("OData-Version = %q, want 4.0", resp.Header.Get("OData-Version"))
			}
		})
	}

	// A session: login, use the token, logout, token dead.
	resp, err := http.Post(srv.URL+"/redfish/v1/SessionService/Sessions", "application/json",
		strings.NewReader(`{"UserName": "root", "Password": "pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sess struct{ Id string }
	_ = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	tok, loc := resp.Header.Get("X-Auth-Token"), resp.Header.Get("Location")
	if resp.StatusCode != 201 || tok == "" || loc != "/redfish/v1/SessionService/Sessions/"+sess.Id {
		t.Fatalf("login = %d, token %q, Location %q, want 201 with both", resp.StatusCode, tok, loc)
	}
	do := func(method, url string) int {
		req, _ := http.NewRequest(method, url, nil)
		req.Header.Set("X-Auth-Token", tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("GET", sys); got != 200 {
		t.Fatalf("GET with the session token = %d, want 200", got)
	}
	if got := do("DELETE", srv.URL+loc); got != 204 {
		t.Fatalf("logout = %d, want 204", got)
	}
	if got := do("GET", sys); got != 401 {
		t.Fatalf("GET with the token after logout = %d, want 401", got)
	}
}
