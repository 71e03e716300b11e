package http

import (
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestNativeMachines(t *testing.T) {
	e := newEnv(t)
	if got := e.api("GET", "/api/v1/machines", "", 200).Body.String(); got != "[]\n" {
		t.Errorf("GET machines on an empty store = %q, want []", got)
	}
	m := decode[boot.Machine](t, e.api("POST", "/api/v1/machines", `{"serviceName":"web-1","macs":["52-54-00-AA-00-01"],"disk":{"path":"/dev/sda"}}`, 201))
	want := boot.Machine{Name: "web-1", MACs: []string{"52:54:00:aa:00:01"}, Disk: boot.DiskHints{Path: "/dev/sda"}, Created: t0}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("POST machines mismatch (-want +got):\n%s", diff)
	}
	errs := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"duplicate name", "POST", "/api/v1/machines", `{"serviceName":"web-1"}`, 409, "create machine web-1: name already taken: conflict"},
		{"MAC taken", "POST", "/api/v1/machines", `{"serviceName":"web-2","macs":["52:54:00:aa:00:01"]}`, 409, "create machine web-2: MAC 52:54:00:aa:00:01 belongs to machine web-1: conflict"},
		{"bad name", "POST", "/api/v1/machines", `{"serviceName":"a b"}`, 400, `invalid machine name "a b": use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`},
		{"unknown field", "POST", "/api/v1/machines", `{"serviceName":"x","mac":"52:54:00:aa:00:02"}`, 400, `Invalid JSON body: unknown field "mac"`},
		{"bad MAC on PUT", "PUT", "/api/v1/machines/web-1", `{"macs":["nope"]}`, 400, `invalid MAC address "nope"`},
		{"unknown machine", "GET", "/api/v1/machines/nope", ``, 404, "machine nope: not found"},
		{"tasks of unknown machine", "GET", "/api/v1/machines/nope/tasks", ``, 404, "machine nope: not found"},
		{"bad task id", "GET", "/api/v1/tasks/abc", ``, 400, `Invalid task id "abc": a positive integer is expected`},
		{"missing task", "GET", "/api/v1/tasks/99", ``, 404, "task 99: not found"},
		{"task trailing data", "POST", "/api/v1/machines/web-1/tasks", `{"imageURL":"http://a/b","imageType":"raw"} {}`, 400, "Invalid JSON body: trailing data after the JSON value"},
		{"task invalid", "POST", "/api/v1/machines/web-1/tasks", `{"imageURL":"http://a/b"}`, 400, "Missing parameter: imageType"},
	}
	for _, tc := range errs {
		w := e.do(tc.method, tc.path, "Bearer good", tc.body)
		if got := apiErr(t, w); w.Code != tc.code || got.Message != tc.msg {
			t.Errorf("%s: %s %s = %d %q, want %d %q", tc.name, tc.method, tc.path, w.Code, got.Message, tc.code, tc.msg)
		}
	}

	task := decode[boot.Task](t, e.api("POST", "/api/v1/machines/web-1/tasks", `{"imageURL":"http://a/b.qcow2","imageType":"QCOW2"}`, 201))
	if task.Status != boot.StatusTodo || task.Spec.ImageType != "qcow2" || task.Spec.OperatingSystem != boot.OSBYOI {
		t.Errorf("POST tasks = %+v, want a todo byoi_64 qcow2 task", task)
	}
	if w := e.do("POST", "/api/v1/machines/web-1/tasks", "Bearer good", `{"imageURL":"http://a/b","imageType":"raw"}`); w.Code != 409 {
		t.Errorf("second task = %d, want 409", w.Code)
	}
	view := decode[machineView](t, e.api("GET", "/api/v1/machines/web-1", "", 200))
	if view.Name != "web-1" || view.ActiveTask == nil || view.ActiveTask.ID != task.ID || len(view.Events) != 2 {
		t.Errorf("GET machine = %+v, want web-1 with its active task and 2 events", view)
	}
	if got := decode[[]boot.Task](t, e.api("GET", "/api/v1/machines/web-1/tasks", "", 200)); len(got) != 1 || got[0].ID != task.ID {
		t.Errorf("GET tasks = %+v, want [task %d]", got, task.ID)
	}
	if got := decode[boot.Task](t, e.api("GET", "/api/v1/tasks/"+itoa(task.ID), "", 200)); got.ID != task.ID {
		t.Errorf("GET task = %+v", got)
	}
	if w := e.do("DELETE", "/api/v1/machines/web-1", "Bearer good", ""); w.Code != 409 {
		t.Errorf("DELETE machine with an active task = %d, want 409", w.Code)
	}
	e.api("POST", "/api/v1/tasks/"+itoa(task.ID)+"/cancel", "", 200)
	e.api("DELETE", "/api/v1/machines/web-1", "", 204)
	e.api("GET", "/api/v1/machines/web-1", "", 404)
}

func TestNativeAdoptDiscovered(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/ipxe/machine?mac=52:54:00:00:00:07&platform=pcbios&buildarch=i386", "", "")
	ms := decode[[]boot.Machine](t, e.api("GET", "/api/v1/machines", "", 200))
	if len(ms) != 1 || !ms[0].Discovered {
		t.Fatalf("machines after an unknown boot = %+v, want one discovered", ms)
	}
	w := e.do("POST", "/api/v1/machines/"+ms[0].Name+"/tasks", "Bearer good", `{"imageURL":"http://a/b","imageType":"raw"}`)
	if w.Code != 409 || !strings.Contains(apiErr(t, w).Message, "not adopted yet") {
		t.Errorf("task for a discovered machine = %d %s, want 409 not adopted", w.Code, w.Body.String())
	}
	m := decode[boot.Machine](t, e.api("PUT", "/api/v1/machines/"+ms[0].Name, `{"serviceName":"db-1","macs":["52:54:00:00:00:07"]}`, 200))
	if m.Name != "db-1" || m.Discovered || m.LastClient != "pcbios/i386" {
		t.Errorf("adopted machine = %+v, want db-1, not discovered, history kept", m)
	}
	e.api("POST", "/1.0/dedicated/server/db-1/reinstall", validReinstall, 200)
}

func TestAuthRequired(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Credentials = nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			p, _ := PrincipalFrom(r.Context())
			body, _ := io.ReadAll(r.Body)
			w.Write([]byte(r.Method + " " + r.URL.Path + " " + p.CredentialID + " " + string(body)))
		})
	})
	e.addMachine(boot.Machine{Name: "web-1"})
	routes := []struct{ method, path string }{
		{"GET", "/1.0/dedicated/server"}, {"GET", "/1.0/dedicated/server/web-1"}, {"PUT", "/1.0/dedicated/server/web-1"},
		{"POST", "/1.0/dedicated/server/web-1/reinstall"}, {"POST", "/1.0/dedicated/server/web-1/install/start"},
		{"POST", "/1.0/dedicated/server/web-1/bringYourOwnImage"}, {"GET", "/1.0/dedicated/server/web-1/bringYourOwnImage"},
		{"DELETE", "/1.0/dedicated/server/web-1/bringYourOwnImage"}, {"GET", "/1.0/dedicated/server/web-1/install/status"},
		{"GET", "/1.0/dedicated/server/web-1/task"}, {"GET", "/1.0/dedicated/server/web-1/task/1"},
		{"GET", "/api/v1/machines"}, {"POST", "/api/v1/machines"}, {"GET", "/api/v1/machines/web-1"},
		{"PUT", "/api/v1/machines/web-1"}, {"DELETE", "/api/v1/machines/web-1"}, {"POST", "/api/v1/machines/web-1/tasks"},
		{"GET", "/api/v1/machines/web-1/tasks"}, {"GET", "/api/v1/tasks/1"}, {"POST", "/api/v1/tasks/1/cancel"},
		{"GET", "/api/v1/credentials"}, {"DELETE", "/api/v1/credentials/x"},
	}
	for _, rt := range routes {
		for _, c := range []struct {
			auth  string
			code  int
			class string
		}{{"", 401, "Client::Unauthorized"}, {"Bearer bad", 401, "Client::Unauthorized"}, {"Bearer forbidden", 403, "Client::Forbidden"}} {
			w := e.do(rt.method, rt.path, c.auth, `{}`)
			if got := apiErr(t, w); w.Code != c.code || got.Class != c.class {
				t.Errorf("%s %s with %q = %d %+v, want %d %s", rt.method, rt.path, c.auth, w.Code, got, c.code, c.class)
			}
		}
	}
	if _, err := e.st.Machine(t.Context(), "web-1"); err != nil {
		t.Errorf("machine gone after refused requests: %v", err)
	}
	w := e.api("POST", "/api/v1/credentials", `{"kind":"token"}`, 200)
	if got := w.Body.String(); got != `POST /api/v1/credentials cred-1 {"kind":"token"}` {
		t.Errorf("credentials handler saw %q, want method, path, principal and body", got)
	}
	for _, p := range []string{"/1.0/auth/time", "/boot.ipxe"} {
		if w := e.do("GET", p, "", ""); w.Code != 200 {
			t.Errorf("public GET %s = %d, want 200", p, w.Code)
		}
	}
	noAuth := newEnv(t, func(c *Config) { c.Auth = nil })
	if w := noAuth.do("GET", "/api/v1/machines", "Bearer good", ""); w.Code != 401 {
		t.Errorf("GET machines with no Authenticator configured = %d, want 401", w.Code)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 64 })
	e.addMachine(boot.Machine{Name: "web-1"})
	w := e.do("POST", "/1.0/dedicated/server/web-1/reinstall", "Bearer good", validReinstall)
	if got := apiErr(t, w); w.Code != 413 || got.Message != "Request body too large: at most 64 bytes" {
		t.Errorf("oversized body = %d %+v, want 413", w.Code, got)
	}
	if w := e.do("POST", "/agent/v1/progress", "Bearer x", strings.Repeat("x", 100)); w.Code != 401 {
		t.Errorf("oversized agent body with an unknown token = %d, want 401 (decided from the headers)", w.Code)
	}
	tok := bootInstallerSmall(t, e, "web-2", "52:54:00:00:00:02")
	if w := e.do("POST", "/agent/v1/progress", "Bearer "+tok, strings.Repeat("x", 100)); w.Code != 413 {
		t.Errorf("oversized agent body with a live token = %d, want 413", w.Code)
	}
}
