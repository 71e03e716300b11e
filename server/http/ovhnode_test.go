package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/auth"
	"github.com/google/go-cmp/cmp"
)

// nodeDir holds the Node.js harness: package.json, the package-lock.json
// that pins the npm package "ovh", and run.js.
const nodeDir = "testdata/ovhnode"

// nodeClient makes sure node and the pinned client are there: `npm ci`
// from the lockfile when node_modules does not match it. Without node or
// npm the test is skipped, except with BYOI_INTEGRATION=1 (make test),
// where that is a failure.
func nodeClient(t *testing.T) string {
	t.Helper()
	missing := func(format string, a ...any) {
		t.Helper()
		if os.Getenv("BYOI_INTEGRATION") == "1" {
			t.Fatalf(format+" (scripts/install-deps.sh test installs Debian's nodejs and npm)", a...)
		}
		t.Skipf(format, a...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		if node, err = exec.LookPath("nodejs"); err != nil {
			missing("no node on PATH")
		}
	}
	lock, err := os.ReadFile(filepath.Join(nodeDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := json.Unmarshal(lock, &want); err != nil {
		t.Fatal(err)
	}
	installed, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "ovh", "package.json"))
	var have struct{ Version string }
	json.Unmarshal(installed, &have)
	if err != nil || have.Version != want.Packages["node_modules/ovh"].Version {
		npm, err := exec.LookPath("npm")
		if err != nil {
			missing("no npm on PATH to install the pinned ovh client")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = nodeDir
		if out, err := cmd.CombinedOutput(); err != nil {
			missing("npm ci in %s: %v\n%s", nodeDir, err, out)
		}
	}
	return node
}

// nodeStep is one call of run.js.
type nodeStep struct {
	Client  string         `json:"client,omitempty"`
	Method  string         `json:"method"`
	Path    string         `json:"path"`
	Params  map[string]any `json:"params,omitempty"`
	SleepMs int            `json:"sleepMs,omitempty"`
}

// nodeResult is what run.js reports for a step: the client's result or
// its own error object ({error: status, message}), and the raw body.
type nodeResult struct {
	OK     bool `json:"ok"`
	Result any  `json:"result"`
	Error  struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
	} `json:"error"`
	Raw string `json:"raw"`
}

// body decodes the raw answer the client's debug hook saw.
func (r nodeResult) body() map[string]any {
	var v map[string]any
	json.Unmarshal([]byte(r.Raw), &v)
	return v
}

type nodeCred struct {
	AppKey      string `json:"appKey"`
	AppSecret   string `json:"appSecret"`
	ConsumerKey string `json:"consumerKey"`
	BasePath    string `json:"basePath"`
}

func credOf(iss auth.Issued, basePath string) nodeCred {
	return nodeCred{iss.ApplicationKey, iss.ApplicationSecret, iss.ConsumerKey, basePath}
}

// runNode runs the steps with the official Node.js client against e's
// HTTPS listener, trusting the test CA through NODE_EXTRA_CA_CERTS.
func (e *liveEnv) runNode(node string, clients map[string]nodeCred, steps ...nodeStep) []nodeResult {
	e.t.Helper()
	plan, _ := json.Marshal(map[string]any{"host": "127.0.0.1", "port": e.apiPort, "clients": clients, "steps": steps})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "run.js")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+e.caFile)
	cmd.Stdin = bytes.NewReader(plan)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("node run.js: %v\n%s", err, stderr.String())
	}
	var res []nodeResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(steps) {
		e.t.Fatalf("node run.js printed %q: %v", out, err)
	}
	return res
}

// TestNodeOVHAcceptance drives every /1.0 route with the Node.js client
// (npm "ovh", pinned), which speaks HTTPS only and signs
// "https://HOST/1.0/…" without the port.
func TestNodeOVHAcceptance(t *testing.T) {
	node := nodeClient(t)
	e := newLiveEnv(t)
	const srv = "/dedicated/server/"
	clients := map[string]nodeCred{"main": credOf(e.full, "/1.0"), "v1": credOf(e.full, "/v1"), "scoped": credOf(e.scoped, "/1.0")}
	body := map[string]any{}
	raw, _ := json.Marshal(fullReinstall)
	json.Unmarshal(raw, &body)

	r := e.runNode(node, clients,
		nodeStep{Method: "GET", Path: "/me"},
		nodeStep{Method: "GET", Path: "/dedicated/server"},
		nodeStep{Method: "GET", Path: srv + "web-2"},
		nodeStep{Method: "PUT", Path: srv + "web-1", Params: map[string]any{"efiBootloaderPath": `\efi\debian\shimx64.efi`}},
		nodeStep{Method: "POST", Path: srv + "web-1/reinstall", Params: body},
		nodeStep{Method: "POST", Path: srv + "web-1/reinstall", Params: body},
		nodeStep{Method: "GET", Path: srv + "web-1/task", Params: map[string]any{"function": "reinstallServer"}},
		nodeStep{Method: "GET", Path: srv + "web-1/task", Params: map[string]any{"status": "todo"}},
		nodeStep{Method: "GET", Path: srv + "web-1/task", Params: map[string]any{"status": "done"}},
		nodeStep{Method: "GET", Path: srv + "web-1/task", Params: map[string]any{"status": "running"}},
		// The Node.js client never signs a path holding "/auth": OVH's
		// Terraform provider (go-ovh) is the one that needs /auth/details.
		nodeStep{Method: "GET", Path: "/auth/details"},
	)
	want := func(i int, what string, ok bool, check bool) {
		t.Helper()
		if r[i].OK != ok || !check {
			t.Errorf("%s = %+v", what, r[i])
		}
	}
	want(0, "GET /me", true, fmt.Sprint(r[0].Result.(map[string]any)["nichandle"]) == "byoi")
	want(1, "GET /dedicated/server", true, cmp.Equal(r[1].Result, []any{"web-1", "web-2", "web-3"}))
	server, _ := r[2].Result.(map[string]any)
	want(2, "GET web-2", true, server["serverId"] == 4242.0 && server["rack"] == "R12" && server["efiBootloaderPath"] == nil)
	want(3, "PUT web-1", true, r[3].Result == nil)
	task, _ := r[4].Result.(map[string]any)
	want(4, "POST reinstall", true, task["status"] == "todo" && task["function"] == "reinstallServer" && task["startDate"] != nil)
	taskID := int64(task["taskId"].(float64))
	want(5, "second POST reinstall", false, r[5].Error.Error == 409.0 && r[5].body()["class"] == "Client::Conflict" &&
		r[5].Error.Message == fmt.Sprintf("An installation is already in progress on server web-1 (task %d): cancel it or wait for it to end", taskID))
	want(6, "GET task?function=reinstallServer", true, cmp.Equal(r[6].Result, []any{float64(taskID)}))
	want(7, "GET task?status=todo", true, cmp.Equal(r[7].Result, []any{float64(taskID)}))
	want(8, "GET task?status=done", true, cmp.Equal(r[8].Result, []any{}))
	want(9, "GET task?status=running", false, r[9].Error.Error == 400.0 && r[9].body()["class"] == "Client::BadRequest")
	want(10, "GET /auth/details (unsigned)", false, r[10].Error.Error == 401.0 && r[10].Error.Message == "You must login first" &&
		r[10].body()["errorCode"] == "NOT_AUTHENTICATED")

	// Polling task/{id} while the installer works, every second.
	taskPath := srv + "web-1/task/" + strconv.FormatInt(taskID, 10)
	token := e.bootInstaller("52:54:00:00:00:01")
	var seen []string
	for i, step := range []func(){
		func() { e.agent(token, "GET", agentapi.PathTask, "", 200) },
		func() { e.agent(token, "POST", agentapi.PathDone, `{"bootMode":"local"}`, 204) },
		func() {},
	} {
		r := e.runNode(node, clients, nodeStep{Method: "GET", Path: taskPath}, nodeStep{Method: "GET", Path: srv + "web-1/install/status"})
		got, _ := r[0].Result.(map[string]any)
		if !r[0].OK || !r[1].OK {
			t.Fatalf("poll %d = %+v", i, r)
		}
		seen = append(seen, fmt.Sprint(got["status"]))
		for _, p := range r[1].Result.(map[string]any)["progress"].([]any) {
			if p.(map[string]any)["error"] != nil {
				t.Errorf("poll %d: install/status step %v has an error", i, p)
			}
		}
		step()
		time.Sleep(time.Second)
	}
	if !cmp.Equal(seen, []string{"todo", "doing", "done"}) {
		t.Errorf("polled statuses %v, want todo, doing, done", seen)
	}

	// The older generations, /v1, and the error cases.
	r = e.runNode(node, clients,
		nodeStep{Method: "POST", Path: srv + "web-2/install/start", Params: map[string]any{"templateName": "byoi_64",
			"userMetadata": []map[string]string{{"key": "imageURL", "value": "https://img.example/a.qcow2"}, {"key": "imageType", "value": "qcow2"}}}},
		nodeStep{Method: "POST", Path: srv + "web-3/bringYourOwnImage", Params: map[string]any{"URL": "https://img.example/a.raw", "type": "raw",
			"checkSum": strings.Repeat("cd", 32), "checkSumType": "sha256"}},
		nodeStep{Method: "GET", Path: srv + "web-3/bringYourOwnImage"},
		nodeStep{Method: "DELETE", Path: srv + "web-3/bringYourOwnImage"},
		nodeStep{Client: "v1", Method: "GET", Path: taskPath},
		nodeStep{Method: "GET", Path: taskPath},
		nodeStep{Client: "v1", Method: "GET", Path: srv + "web-1"},
		nodeStep{Method: "GET", Path: srv + "web-1"},
		nodeStep{Method: "GET", Path: srv + "nope"},
		nodeStep{Method: "POST", Path: srv + "web-3/reinstall", Params: map[string]any{"operatingSystem": "byoi_64", "customizations": map[string]string{"imageType": "raw"}}},
		nodeStep{Client: "scoped", Method: "DELETE", Path: srv + "web-2/bringYourOwnImage"},
		nodeStep{Client: "scoped", Method: "GET", Path: srv + "web-2/install/status"},
	)
	want(0, "POST install/start", true, r[0].Result.(map[string]any)["status"] == "todo")
	want(1, "POST bringYourOwnImage", true, r[1].Result == nil && r[1].Raw == "null\n")
	want(2, "GET bringYourOwnImage", true, cmp.Equal(r[2].Result, map[string]any{"checksum": strings.Repeat("cd", 32),
		"message": "Installing byoi_64", "servername": "web-3", "status": "doing"}))
	want(3, "DELETE bringYourOwnImage", true, r[3].Result == nil && r[3].Raw == "null\n")
	want(4, "GET /v1 task", true, cmp.Equal(r[4].Result, r[5].Result) && r[4].Result.(map[string]any)["status"] == "done")
	want(6, "GET /v1 server", true, cmp.Equal(r[6].Result, r[7].Result) && r[6].Result.(map[string]any)["os"] == "byoi_64")
	for i, tc := range []struct {
		status           float64
		class, message   string
		errorCode, httpC string
	}{
		8:  {404, "Client::NotFound", "The requested object (serviceName = nope) does not exist", "", ""},
		9:  {400, "Client::BadRequest", "Missing parameter: imageURL", "", ""},
		10: {403, "Client::Forbidden", "This call has not been granted", "NOT_GRANTED_CALL", "403 Forbidden"},
	} {
		if tc.class == "" {
			continue
		}
		b := r[i].body()
		if r[i].OK || r[i].Error.Error != tc.status || r[i].Error.Message != tc.message || b["class"] != tc.class ||
			b["errorCode"] != nilIfEmpty(tc.errorCode) || b["httpCode"] != nilIfEmpty(tc.httpC) {
			t.Errorf("step %d = %+v, want %v %s %q errorCode %q", i, r[i], tc.status, tc.class, tc.message, tc.errorCode)
		}
	}
	want(11, "scoped GET install/status", true, r[11].Result.(map[string]any)["progress"] != nil)

	// Refused credentials: the client's error object has the status and
	// OVH's message; the body it saw has the class and errorCode.
	wrongSecret := credOf(e.full, "/1.0")
	wrongSecret.AppSecret = strings.Repeat("x", 32)
	unknownKey := credOf(e.full, "/1.0")
	unknownKey.AppKey = strings.Repeat("K", 16)
	time.Sleep(time.Until(e.expiring.Expires) + 10*time.Millisecond)
	r = e.runNode(node, map[string]nodeCred{"secret": wrongSecret, "key": unknownKey, "expired": credOf(e.expiring, "/1.0")},
		nodeStep{Client: "secret", Method: "GET", Path: "/dedicated/server"},
		nodeStep{Client: "key", Method: "GET", Path: "/dedicated/server"},
		nodeStep{Client: "expired", Method: "GET", Path: "/dedicated/server"},
	)
	for i, tc := range []struct {
		status                 float64
		class, message, errors string
	}{
		{400, "Client::BadRequest", "Invalid signature", "INVALID_SIGNATURE"},
		{403, "Client::Forbidden", "This application key is invalid", "INVALID_KEY"},
		{403, "Client::Forbidden", "This credential is not valid", "INVALID_CREDENTIAL"},
	} {
		b := r[i].body()
		if r[i].OK || r[i].Error.Error != tc.status || r[i].Error.Message != tc.message || b["class"] != tc.class || b["errorCode"] != tc.errors {
			t.Errorf("refused %d = %+v, want %v %s %q %s", i, r[i], tc.status, tc.class, tc.message, tc.errors)
		}
	}
}
