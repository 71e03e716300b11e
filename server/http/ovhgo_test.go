package http

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/auth"
	"github.com/google/go-cmp/cmp"
	"github.com/ovh/go-ovh/ovh"
)

// goClient is go-ovh (pinned in go.mod) pointed at byoi's HTTPS listener
// under prefix (/1.0 or /v1), trusting the test CA.
func (e *liveEnv) goClient(iss auth.Issued, prefix string) *ovh.Client {
	e.t.Helper()
	c, err := ovh.NewClient(e.apiURL()+prefix, iss.ApplicationKey, iss.ApplicationSecret, iss.ConsumerKey)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Client.Transport = &nethttp.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pool}}
	return c
}

// rawCall sends one request signed by c and returns its status, body and
// query ID: what go-ovh's APIError does not keep (errorCode, httpCode).
func rawCall(t *testing.T, c *ovh.Client, method, path string, body any) (int, map[string]any, string) {
	t.Helper()
	status, raw, qid := rawBytes(t, c, method, path, body)
	var v map[string]any
	json.Unmarshal(raw, &v)
	return status, v, qid
}

// rawBytes is rawCall with the body as sent (go-ovh cannot show a null
// answer: it decodes into its own copy of the result pointer).
func rawBytes(t *testing.T, c *ovh.Client, method, path string, body any) (int, []byte, string) {
	t.Helper()
	req, err := c.NewRequest(method, path, body, true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw, res.Header.Get(QueryIDHeader)
}

// identicalRequests signs the same request twice within one second, so
// that both carry the very same signature, as a client's quick retry does.
func identicalRequests(t *testing.T, c *ovh.Client, method, path string, body any) (*nethttp.Request, *nethttp.Request) {
	t.Helper()
	for range 5 {
		r1, err := c.NewRequest(method, path, body, true)
		if err != nil {
			t.Fatal(err)
		}
		r2, _ := c.NewRequest(method, path, body, true)
		if r1.Header.Get("X-Ovh-Signature") == r2.Header.Get("X-Ovh-Signature") {
			return r1, r2
		}
	}
	t.Fatal("could not sign the same request twice within a second")
	return nil, nil
}

// ovhTask is dedicated.server.Task as a Go client decodes it.
type ovhTask struct {
	TaskID       int64      `json:"taskId"`
	Function     string     `json:"function"`
	Status       string     `json:"status"`
	Comment      string     `json:"comment"`
	StartDate    time.Time  `json:"startDate"`
	LastUpdate   time.Time  `json:"lastUpdate"`
	DoneDate     *time.Time `json:"doneDate"`
	NeedSchedule bool       `json:"needSchedule"`
}

// fullReinstall is a reinstall body with every customization.
var fullReinstall = map[string]any{
	"operatingSystem": "byoi_64",
	"customizations": map[string]any{
		"hostname": "mon-tux", "imageURL": "https://img.example/debian-12.raw", "imageType": "raw",
		"imageCheckSum": strings.Repeat("ab", 64), "imageCheckSumType": "sha512",
		"httpHeaders":       map[string]string{"Authorization": "Basic bG9naW46cGFzc3dvcmQ="},
		"efiBootloaderPath": `\efi\debian\grubx64.efi`, "sshKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host",
		"configDriveUserData": "I2Nsb3VkLWNvbmZpZwo=", "configDriveMetadata": map[string]string{"role": "web"},
	},
}

// TestGoOVHAcceptance drives every /1.0 route with go-ovh over HTTPS, the
// way scripts and OVH's Terraform provider use it.
func TestGoOVHAcceptance(t *testing.T) {
	e := newLiveEnv(t)
	c := e.goClient(e.full, "/1.0")
	const srv = "/dedicated/server/"

	// Terraform first: GET /auth/details, then the account.
	var details authDetails
	if err := c.Get("/auth/details", &details); err != nil || details.Method != "account" || len(details.AllowedRoutes) != 4 || details.Description != "acceptance" {
		t.Fatalf("GET /auth/details = %+v, %v", details, err)
	}
	var me map[string]any
	if err := c.Get("/me", &me); err != nil || me["nichandle"] != "byoi" {
		t.Errorf("GET /me = %v, %v", me, err)
	}
	var names []string
	if err := c.Get("/dedicated/server", &names); err != nil || !cmp.Equal(names, []string{"web-1", "web-2", "web-3"}) {
		t.Errorf("GET /dedicated/server = %v, %v", names, err)
	}
	var server map[string]any
	if err := c.Get(srv+"web-2", &server); err != nil || fmt.Sprint(server["serverId"]) != "4242" || server["datacenter"] != "rbx-lab" ||
		server["rack"] != "R12" || server["powerState"] != "poweroff" || server["region"] != DefaultRegion {
		t.Errorf("GET web-2 = %v, %v", server, err)
	}
	if err := c.Put(srv+"web-1", map[string]string{"efiBootloaderPath": `\efi\debian\shimx64.efi`}, nil); err != nil {
		t.Errorf("PUT web-1 = %v", err)
	}

	// Current generation, full body.
	var task ovhTask
	if err := c.Post(srv+"web-1/reinstall", fullReinstall, &task); err != nil {
		t.Fatalf("POST reinstall = %v", err)
	}
	if task.Status != "todo" || task.Function != "reinstallServer" || task.StartDate.IsZero() || task.DoneDate != nil {
		t.Errorf("POST reinstall = %+v, want a todo task with its startDate", task)
	}
	// A quick retry repeats the same signature: processed, so 409.
	r1, r2 := identicalRequests(t, c, "POST", srv+"web-1/reinstall", fullReinstall)
	var queryIDs []string
	for i, r := range []*nethttp.Request{r1, r2} {
		res, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		err = c.UnmarshalResponse(res, nil)
		var apiErr *ovh.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != 409 || apiErr.Class != "Client::Conflict" || apiErr.QueryID == "" ||
			apiErr.Message != fmt.Sprintf("An installation is already in progress on server web-1 (task %d): cancel it or wait for it to end", task.TaskID) {
			t.Errorf("retry %d of the same signed reinstall = %v, want OVH's 409", i, err)
		} else {
			queryIDs = append(queryIDs, apiErr.QueryID)
		}
	}
	if len(queryIDs) == 2 && queryIDs[0] == queryIDs[1] {
		t.Errorf("two answers share the query ID %s", queryIDs[0])
	}
	for _, id := range queryIDs {
		if !strings.Contains(e.logs.String(), "query_id="+id) {
			t.Errorf("query ID %s is not in the server log", id)
		}
	}

	// Task list and its filters.
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{task.TaskID}},
		{"?function=reinstallServer", []int64{task.TaskID}},
		{"?status=todo", []int64{task.TaskID}},
		{"?status=done", []int64{}},
		{"?function=hardReboot&status=todo", []int64{}},
	} {
		var ids []int64
		if err := c.Get(srv+"web-1/task"+tc.query, &ids); err != nil || !cmp.Equal(ids, tc.want) {
			t.Errorf("GET task%s = %v, %v, want %v", tc.query, ids, err, tc.want)
		}
	}
	var apiErr *ovh.APIError
	if err := c.Get(srv+"web-1/task?status=running", nil); !errors.As(err, &apiErr) || apiErr.Code != 400 ||
		!strings.HasPrefix(apiErr.Message, `Invalid value for status: "running" is not one of cancelled, customerError, doing, done`) {
		t.Errorf("GET task?status=running = %v, want a 400", err)
	}

	// Polling as OVH's Terraform provider does: a fresh client asks
	// /auth/details, then GET task/{id} every few seconds until it ends.
	// The installer moves the task between polls.
	tf := e.goClient(e.scoped, "/1.0")
	if err := tf.Get("/auth/details", &details); err != nil || len(details.AllowedRoutes) != 2 {
		t.Fatalf("scoped GET /auth/details = %+v, %v", details, err)
	}
	token := e.bootInstaller("52:54:00:00:00:01")
	steps := []func(){
		func() { e.agent(token, "GET", agentapi.PathTask, "", 200) },
		func() {
			e.agent(token, "POST", agentapi.PathProgress, `{"step":"download","status":"doing","bytesDone":1,"bytesTotal":2}`, 204)
		},
		func() { e.agent(token, "POST", agentapi.PathDone, `{"bootMode":"local"}`, 204) },
	}
	var seen []string
	for i := 0; ; i++ {
		var polled ovhTask
		if err := tf.Get(srv+"web-1/task/"+strconv.FormatInt(task.TaskID, 10), &polled); err != nil {
			t.Fatalf("poll %d: GET task = %v", i, err)
		}
		if len(seen) == 0 || seen[len(seen)-1] != polled.Status {
			seen = append(seen, polled.Status)
		}
		if polled.Status == "doing" {
			var st ovhInstallStatus
			if err := tf.Get(srv+"web-1/install/status", &st); err != nil || st.Progress[0].Error != nil || st.Progress[0].Status != "doing" && st.Progress[0].Status != "todo" {
				t.Errorf("install/status while doing = %+v, %v, want no error", st, err)
			}
		}
		if polled.Status == "done" {
			if polled.DoneDate == nil || polled.DoneDate.Before(polled.StartDate) {
				t.Errorf("done task = %+v, want a doneDate", polled)
			}
			break
		}
		if i >= len(steps) {
			t.Fatalf("task still %s after the installer finished", polled.Status)
		}
		steps[i]()
		time.Sleep(1100 * time.Millisecond) // Terraform waits a few seconds
	}
	if !cmp.Equal(seen, []string{"todo", "doing", "done"}) {
		t.Errorf("polled statuses %v, want todo, doing, done", seen)
	}
	// Two identical polls within a second both answer.
	p1, p2 := identicalRequests(t, tf, "GET", srv+"web-1/task/"+strconv.FormatInt(task.TaskID, 10), nil)
	for _, r := range []*nethttp.Request{p1, p2} {
		res, err := tf.Do(r)
		if err != nil || res.StatusCode != 200 {
			t.Errorf("identical poll = %v, %v, want 200", res, err)
		}
		res.Body.Close()
	}

	// The older generations, and a failure seen in install/status.
	if err := c.Post(srv+"web-2/install/start", map[string]any{"templateName": "byoi_64", "details": map[string]string{"customHostname": "db"},
		"userMetadata": []map[string]string{{"key": "imageURL", "value": "https://img.example/a.qcow2"}, {"key": "imageType", "value": "qcow2"}}}, &task); err != nil || task.Status != "todo" {
		t.Fatalf("POST install/start = %+v, %v", task, err)
	}
	token2 := e.bootInstaller("52:54:00:00:00:02")
	e.agent(token2, "GET", agentapi.PathTask, "", 200)
	e.agent(token2, "POST", agentapi.PathError, `{"step":"download","class":"customer","message":"Could not download image: 404 Not Found"}`, 204)
	var st ovhInstallStatus
	if err := c.Get(srv+"web-2/install/status", &st); err != nil || st.Progress[0].Error == nil || *st.Progress[0].Error != "Could not download image: 404 Not Found" || st.Progress[1].Error != nil {
		t.Errorf("install/status after a failure = %+v, %v", st, err)
	}
	if status, raw, _ := rawBytes(t, c, "POST", srv+"web-3/bringYourOwnImage", map[string]any{"URL": "https://img.example/a.raw", "type": "raw",
		"checkSum": strings.Repeat("cd", 32), "checkSumType": "sha256"}); status != 200 || string(raw) != "null\n" {
		t.Fatalf("POST bringYourOwnImage = %d %q, want 200 null", status, raw)
	}
	var byoi map[string]string
	if err := c.Get(srv+"web-3/bringYourOwnImage", &byoi); err != nil ||
		!cmp.Equal(byoi, map[string]string{"checksum": strings.Repeat("cd", 32), "message": "Installing byoi_64", "servername": "web-3", "status": "doing"}) {
		t.Errorf("GET bringYourOwnImage = %v, %v", byoi, err)
	}
	if status, raw, _ := rawBytes(t, c, "DELETE", srv+"web-3/bringYourOwnImage", nil); status != 200 || string(raw) != "null\n" {
		t.Errorf("DELETE bringYourOwnImage = %d %q, want 200 null", status, raw)
	}
	if err := c.Get(srv+"web-3/bringYourOwnImage", nil); !errors.As(err, &apiErr) || apiErr.Code != 404 {
		t.Errorf("GET bringYourOwnImage after DELETE = %v, want 404", err)
	}

	// /v1 answers what /1.0 answers.
	v1 := e.goClient(e.full, "/v1")
	for _, p := range []string{"/auth/details", "/me", "/dedicated/server", srv + "web-1", srv + "web-1/task", srv + "web-1/task/1",
		srv + "web-1/task?status=done", srv + "web-2/install/status", srv + "web-1/bringYourOwnImage"} {
		s10, b10, _ := rawCall(t, c, "GET", p, nil)
		sv1, bv1, _ := rawCall(t, v1, "GET", p, nil)
		if s10 != sv1 || !cmp.Equal(b10, bv1) {
			t.Errorf("GET /v1%s = %d %v, /1.0 = %d %v", p, sv1, bv1, s10, b10)
		}
	}

	checkGoErrors(t, e, c)
}

// checkGoErrors: go-ovh's APIError carries the status, class, message and
// query ID; the errorCode and httpCode are in the body it reads.
func checkGoErrors(t *testing.T, e *liveEnv, c *ovh.Client) {
	const srv = "/dedicated/server/"
	wrongSecret := e.full
	wrongSecret.ApplicationSecret = strings.Repeat("x", 32)
	unknownKey := e.full
	unknownKey.ApplicationKey = strings.Repeat("K", 16)
	wrongConsumer := e.full
	wrongConsumer.ConsumerKey = strings.Repeat("c", 32)
	time.Sleep(time.Until(e.expiring.Expires) + 10*time.Millisecond)
	for _, tc := range []struct {
		name     string
		client   *ovh.Client
		method   string
		path     string
		body     any
		status   int
		class    string
		message  string
		code     string
		httpCode string
	}{
		{"unknown server", c, "GET", srv + "nope", nil, 404, "Client::NotFound", "The requested object (serviceName = nope) does not exist", "", ""},
		{"bad body", c, "POST", srv + "web-3/reinstall", map[string]any{"operatingSystem": "byoi_64", "customizations": map[string]string{"imageType": "raw"}},
			400, "Client::BadRequest", "Missing parameter: imageURL", "", ""},
		{"call not granted", e.goClient(e.scoped, "/1.0"), "DELETE", srv + "web-1/bringYourOwnImage", nil,
			403, "Client::Forbidden", "This call has not been granted", "NOT_GRANTED_CALL", "403 Forbidden"},
		{"wrong secret", e.goClient(wrongSecret, "/1.0"), "GET", "/dedicated/server", nil,
			400, "Client::BadRequest", "Invalid signature", "INVALID_SIGNATURE", "400 Bad Request"},
		{"unknown application key", e.goClient(unknownKey, "/1.0"), "GET", "/dedicated/server", nil,
			403, "Client::Forbidden", "This application key is invalid", "INVALID_KEY", "403 Forbidden"},
		{"wrong consumer key", e.goClient(wrongConsumer, "/1.0"), "GET", "/dedicated/server", nil,
			403, "Client::Forbidden", "This credential does not exist", "NOT_CREDENTIAL", "403 Forbidden"},
		{"expired consumer key", e.goClient(e.expiring, "/1.0"), "GET", "/dedicated/server", nil,
			403, "Client::Forbidden", "This credential is not valid", "INVALID_CREDENTIAL", "403 Forbidden"},
	} {
		err := tc.client.CallAPI(tc.method, tc.path, tc.body, nil, true)
		var apiErr *ovh.APIError
		if !errors.As(err, &apiErr) {
			t.Errorf("%s: %v, want an *ovh.APIError", tc.name, err)
			continue
		}
		if apiErr.Code != tc.status || apiErr.Class != tc.class || apiErr.Message != tc.message || !strings.HasPrefix(apiErr.QueryID, "BYOI.") {
			t.Errorf("%s: APIError %+v, want %d %s %q with a query ID", tc.name, *apiErr, tc.status, tc.class, tc.message)
		}
		status, body, qid := rawCall(t, tc.client, tc.method, tc.path, tc.body)
		if status != tc.status || body["errorCode"] != nilIfEmpty(tc.code) || body["httpCode"] != nilIfEmpty(tc.httpCode) || qid == "" {
			t.Errorf("%s: body %d %v (query ID %q), want errorCode %q, httpCode %q", tc.name, status, body, qid, tc.code, tc.httpCode)
		}
	}
	// A timestamp out of the window.
	req, _ := c.NewRequest("GET", "/dedicated/server", nil, true)
	req.Header.Set("X-Ovh-Timestamp", strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10))
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = c.UnmarshalResponse(res, nil)
	var apiErr *ovh.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 400 || apiErr.Message != "Query out of time" {
		t.Errorf("stale timestamp = %v, want 400 Query out of time", err)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
