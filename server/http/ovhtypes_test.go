package http

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ovh")

// ovhTypes is testdata/ovh-types.json: OVH's type of each answer, property
// by property.
func ovhTypes(t *testing.T) map[string]map[string]string {
	t.Helper()
	raw, err := os.ReadFile("testdata/ovh-types.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for name, v := range doc {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var props map[string]string
		if err := json.Unmarshal(v, &props); err != nil {
			t.Fatalf("ovh-types.json %s: %v", name, err)
		}
		out[name] = props
	}
	return out
}

// nested names the OVH type of array items and objects inside a type.
var nested = map[string]string{
	"dedicated.server.InstallationProgressStatus.progress": "dedicated.server.InstallationProgressSteps",
	"auth.Details.allowedRoutes":                           "auth.AccessRule",
	"nichandle.Nichandle.currency":                         "nichandle.Currency",
}

var ovhDateRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$`)

// checkOVHType reports every way v differs from OVH's type name: a
// property missing, null where OVH's is not nullable, or of another JSON
// type. byoi's own extra properties are allowed.
func checkOVHType(types map[string]map[string]string, name string, v any) []string {
	props, ok := types[name]
	if !ok {
		return []string{"unknown OVH type " + name}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: got %T, want an object", name, v)}
	}
	var errs []string
	for prop, want := range props {
		got, present := obj[prop]
		where := name + "." + prop
		if !present {
			errs = append(errs, where+": missing")
			continue
		}
		nullable := strings.HasSuffix(want, "?")
		want = strings.TrimSuffix(want, "?")
		if got == nil {
			if !nullable {
				errs = append(errs, where+": null, but OVH's type is not nullable")
			}
			continue
		}
		if e := checkValue(want, got); e != "" {
			errs = append(errs, where+": "+e)
			continue
		}
		if inner, ok := nested[where]; ok {
			items := []any{got}
			if a, ok := got.([]any); ok {
				items = a
			}
			for _, it := range items {
				errs = append(errs, checkOVHType(types, inner, it)...)
			}
		}
	}
	slices.Sort(errs)
	return errs
}

func checkValue(want string, got any) string {
	switch {
	case want == "string":
		if _, ok := got.(string); !ok {
			return fmt.Sprintf("%v is not a string", got)
		}
	case want == "date":
		if s, ok := got.(string); !ok || !ovhDateRE.MatchString(s) {
			return fmt.Sprintf("%v is not a date with whole seconds and a numeric offset", got)
		}
	case want == "integer":
		if f, ok := got.(float64); !ok || f != float64(int64(f)) {
			return fmt.Sprintf("%v is not an integer", got)
		}
	case want == "boolean":
		if _, ok := got.(bool); !ok {
			return fmt.Sprintf("%v is not a boolean", got)
		}
	case want == "array":
		if _, ok := got.([]any); !ok {
			return fmt.Sprintf("%v is not an array", got)
		}
	case want == "object":
		if _, ok := got.(map[string]any); !ok {
			return fmt.Sprintf("%v is not an object", got)
		}
	case strings.HasPrefix(want, "enum:"):
		s, ok := got.(string)
		if !ok || !slices.Contains(strings.Split(strings.TrimPrefix(want, "enum:"), "|"), s) {
			return fmt.Sprintf("%v is not one of %s", got, strings.TrimPrefix(want, "enum:"))
		}
	default:
		return "unknown type " + want
	}
	return ""
}

// TestOVHAnswerShapes calls every /1.0 route once in a fixed scene, compares
// each answer with its golden file (go test -update rewrites them) and
// with OVH's type.
func TestOVHAnswerShapes(t *testing.T) {
	types := ovhTypes(t)
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}, IPv4: "198.51.100.21", Created: t0})
	e.addMachine(boot.Machine{Name: "web-2", MACs: []string{"52:54:00:00:00:02"}, ServerID: 4242,
		Datacenter: "rbx-lab", Rack: "R12", Region: "eu-west-lab", AvailabilityZone: "eu-west-lab-a", Created: t0})
	if err := e.st.PutLease(t.Context(), boot.Lease{MAC: "52:54:00:00:00:02", IP: "198.51.100.22", Expires: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	const srv = "/1.0/dedicated/server/"
	full := `{"operatingSystem":"byoi_64","customizations":{"hostname":"mon-tux","imageURL":"https://img.example/debian-12.raw",` +
		`"imageType":"raw","imageCheckSum":"` + strings.Repeat("ab", 64) + `","imageCheckSumType":"sha512",` +
		`"httpHeaders":{"Authorization":"Basic bG9naW46cGFzc3dvcmQ="},"efiBootloaderPath":"\\efi\\debian\\grubx64.efi",` +
		`"sshKey":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host","configDriveUserData":"#cloud-config\n",` +
		`"configDriveMetadata":{"role":"web"}}}`

	type call struct {
		name, method, path, body, ovhType string
		want                              int
		before                            func()
	}
	var token string
	calls := []call{
		{name: "auth-time", method: "GET", path: "/1.0/auth/time", ovhType: "integer", want: 200},
		{name: "auth-details", method: "GET", path: "/1.0/auth/details", ovhType: "auth.Details", want: 200},
		{name: "me", method: "GET", path: "/1.0/me", ovhType: "nichandle.Nichandle", want: 200},
		{name: "server-list", method: "GET", path: "/1.0/dedicated/server", ovhType: "[]string", want: 200},
		{name: "server-get", method: "GET", path: srv + "web-1", ovhType: "dedicated.server.Dedicated", want: 200},
		{name: "server-get-located", method: "GET", path: srv + "web-2", ovhType: "dedicated.server.Dedicated", want: 200},
		{name: "server-put", method: "PUT", path: srv + "web-1", body: `{"efiBootloaderPath":"\\efi\\debian\\shimx64.efi"}`, ovhType: "null", want: 200},
		{name: "reinstall", method: "POST", path: srv + "web-1/reinstall", body: full, ovhType: "dedicated.server.Task", want: 200},
		{name: "task-list", method: "GET", path: srv + "web-1/task", ovhType: "[]integer", want: 200},
		{name: "task-list-filtered", method: "GET", path: srv + "web-1/task?function=reinstallServer&status=todo", ovhType: "[]integer", want: 200},
		{name: "task-get-todo", method: "GET", path: srv + "web-1/task/1", ovhType: "dedicated.server.Task", want: 200},
		{name: "install-status-doing", method: "GET", path: srv + "web-1/install/status", ovhType: "dedicated.server.InstallationProgressStatus", want: 200,
			before: func() {
				token = scriptToken(t, e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac=52:54:00:00:00:01", "", "").Body.String())
				e.advance(5 * time.Second)
				agentDo(t, e, token, agentapi.PathTask, "", 200)
				e.advance(30 * time.Second)
				agentDo(t, e, token, agentapi.PathProgress, `{"step":"download","status":"doing","bytesDone":1024,"bytesTotal":4096}`, 204)
			}},
		{name: "byoi-get-doing", method: "GET", path: srv + "web-1/bringYourOwnImage", ovhType: "ByoiStatus", want: 200},
		{name: "install-status-error", method: "GET", path: srv + "web-1/install/status", ovhType: "dedicated.server.InstallationProgressStatus", want: 200,
			before: func() {
				e.advance(10 * time.Second)
				agentDo(t, e, token, agentapi.PathError, `{"step":"check","class":"customer","message":"Bad sha512 for downloaded file, got: 00 while expecting ab."}`, 204)
			}},
		{name: "task-get-failed", method: "GET", path: srv + "web-1/task/1", ovhType: "dedicated.server.Task", want: 200},
		{name: "byoi-get-error", method: "GET", path: srv + "web-1/bringYourOwnImage", ovhType: "ByoiStatus", want: 200},
		{name: "install-start", method: "POST", path: srv + "web-1/install/start", ovhType: "dedicated.server.Task", want: 200,
			body: `{"templateName":"byoi_64","details":{"customHostname":"mon-tux"},"userMetadata":[{"key":"imageURL","value":"https://img.example/a.qcow2"},{"key":"imageType","value":"qcow2"}]}`},
		{name: "byoi-delete", method: "DELETE", path: srv + "web-1/bringYourOwnImage", ovhType: "null", want: 200},
		{name: "byoi-post", method: "POST", path: srv + "web-1/bringYourOwnImage", ovhType: "null", want: 200,
			body: `{"URL":"https://img.example/a.raw","type":"raw","checkSum":"` + strings.Repeat("cd", 32) + `","checkSumType":"sha256"}`},
		{name: "task-list-all", method: "GET", path: srv + "web-1/task", ovhType: "[]integer", want: 200},
		{name: "task-list-cancelled", method: "GET", path: srv + "web-1/task?status=cancelled", ovhType: "[]integer", want: 200},
	}
	for _, c := range calls {
		if c.before != nil {
			c.before()
		}
		w := e.do(c.method, c.path, "Bearer good", c.body)
		if w.Code != c.want {
			t.Fatalf("%s: %s %s = %d %s, want %d", c.name, c.method, c.path, w.Code, w.Body, c.want)
		}
		var v any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s: %v in %s", c.name, err, w.Body)
		}
		var errs []string
		switch c.ovhType {
		case "null":
			if v != nil {
				errs = []string{fmt.Sprintf("got %v, want null", v)}
			}
		case "integer":
			errs = []string{checkValue("integer", v)}
		case "[]string", "[]integer":
			a, ok := v.([]any)
			if !ok {
				errs = []string{fmt.Sprintf("got %v, want an array", v)}
			}
			for _, it := range a {
				errs = append(errs, checkValue(strings.TrimPrefix(c.ovhType, "[]"), it))
			}
		default:
			errs = checkOVHType(types, c.ovhType, v)
		}
		if errs = slices.DeleteFunc(errs, func(s string) bool { return s == "" }); len(errs) > 0 {
			t.Errorf("%s: %s %s answer is not OVH's %s:\n  %s", c.name, c.method, c.path, c.ovhType, strings.Join(errs, "\n  "))
		}
		if c.name == "auth-time" {
			continue // the clock, not a shape
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, w.Body.Bytes(), "", "  ")
		golden := filepath.Join("testdata", "ovh", c.name+".json")
		if *update {
			if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%s: %v (go test -run TestOVHAnswerShapes -update writes it)", c.name, err)
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("%s: %s %s =\n%s\nwant (%s):\n%s", c.name, c.method, c.path, pretty.Bytes(), golden, want)
		}
	}
}

// TestCheckOVHType shows the checker refuses what byoi answered before:
// a task without needSchedule and friends, dates in "Z" form, startDate
// null, and install/status with an empty string for "no error".
func TestCheckOVHType(t *testing.T) {
	types := ovhTypes(t)
	oldTask := map[string]any{"taskId": 1.0, "function": "reinstallServer", "comment": "x", "status": "todo",
		"lastUpdate": "2025-06-01T12:00:00Z", "startDate": nil, "doneDate": nil}
	got := checkOVHType(types, "dedicated.server.Task", oldTask)
	want := []string{
		"dedicated.server.Task.lastUpdate: 2025-06-01T12:00:00Z is not a date with whole seconds and a numeric offset",
		"dedicated.server.Task.needSchedule: missing",
		"dedicated.server.Task.note: missing",
		"dedicated.server.Task.plannedInterventionId: missing",
		"dedicated.server.Task.startDate: null, but OVH's type is not nullable",
		"dedicated.server.Task.tags: missing",
		"dedicated.server.Task.ticketReference: missing",
	}
	if !slices.Equal(got, want) {
		t.Errorf("checkOVHType(old task) =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	status := map[string]any{"elapsedTime": 3.5, "progress": []any{map[string]any{"comment": "c", "status": "running", "error": ""}}}
	got = checkOVHType(types, "dedicated.server.InstallationProgressStatus", status)
	want = []string{
		"dedicated.server.InstallationProgressStatus.elapsedTime: 3.5 is not an integer",
		"dedicated.server.InstallationProgressSteps.status: running is not one of doing|done|error|expired|idle|pending|stopping|todo",
	}
	if !slices.Equal(got, want) {
		t.Errorf("checkOVHType(bad status) =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
