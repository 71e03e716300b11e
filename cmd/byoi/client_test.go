package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/store"
	"github.com/urfave/cli/v2"
)

const testToken = "byoi_tok-0123456789ab_test-token-for-the-fake-server-000000000"

// recorded is one request the fake server received.
type recorded struct{ Method, Path, Body string }

// fakeAPI implements the few native API routes the client commands use,
// over maps, and records every request.
type fakeAPI struct {
	t        *testing.T
	mu       sync.Mutex
	machines map[string]boot.Machine
	tasks    map[int64][]boot.Task // GET /tasks/{id} serves these in turn, then repeats the last
	polls    map[int64]int
	nextID   int64
	requests []recorded
	creds    http.Handler // the real credentials API over a real store
	srv      *httptest.Server
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, machines: map[string]boot.Machine{}, tasks: map[int64][]boot.Task{}, polls: map[int64]int{}, nextID: 100}
	st, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := auth.NewKeyring(bytes.Repeat([]byte{1}, auth.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(st, keys, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.creds = a.Credentials()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/machines", func(w http.ResponseWriter, r *http.Request) {
		ms := []boot.Machine{}
		for _, m := range f.machines {
			ms = append(ms, m)
		}
		slices.SortFunc(ms, func(a, b boot.Machine) int { return strings.Compare(a.Name, b.Name) })
		reply(w, 200, ms)
	})
	mux.HandleFunc("POST /api/v1/machines", func(w http.ResponseWriter, r *http.Request) {
		var b machineBody
		if !decodeStrictly(w, r, &b) {
			return
		}
		m := boot.Machine{Name: b.Name, MACs: b.MACs, IPv4: b.IPv4, Disk: b.Disk, BootMode: b.BootMode, EFIBootloaderPath: b.EFIBootloaderPath}
		if err := m.Validate(); err != nil {
			replyError(w, 400, err.Error())
			return
		}
		if _, dup := f.machines[m.Name]; dup {
			replyError(w, 409, "machine "+m.Name+" already exists")
			return
		}
		f.machines[m.Name] = m
		reply(w, 201, m)
	})
	mux.HandleFunc("GET /api/v1/machines/{name}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := f.machine(w, r)
		if !ok {
			return
		}
		v := machineView{Machine: m, Events: []boot.Event{{Seq: 1, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Machine: m.Name, Kind: boot.EventMachineAdded, Message: "added"}}}
		for id, states := range f.tasks {
			if t := states[0]; t.Machine == m.Name && t.Status.Active() {
				v.ActiveTask = &states[min(f.polls[id], len(states)-1)]
			}
		}
		reply(w, 200, v)
	})
	mux.HandleFunc("PUT /api/v1/machines/{name}", func(w http.ResponseWriter, r *http.Request) {
		m, ok := f.machine(w, r)
		if !ok {
			return
		}
		var b machineBody
		if !decodeStrictly(w, r, &b) {
			return
		}
		delete(f.machines, m.Name)
		m.Name, m.MACs, m.IPv4, m.Disk, m.EFIBootloaderPath, m.Discovered = b.Name, b.MACs, b.IPv4, b.Disk, b.EFIBootloaderPath, false
		f.machines[m.Name] = m
		reply(w, 200, m)
	})
	mux.HandleFunc("DELETE /api/v1/machines/{name}", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := f.machine(w, r); ok {
			delete(f.machines, m.Name)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("POST /api/v1/machines/{name}/tasks", func(w http.ResponseWriter, r *http.Request) {
		m, ok := f.machine(w, r)
		if !ok {
			return
		}
		var spec boot.InstallSpec
		if !decodeStrictly(w, r, &spec) {
			return
		}
		if err := spec.Validate(); err != nil {
			replyError(w, 400, err.Error())
			return
		}
		f.nextID++
		t := boot.Task{ID: f.nextID, Machine: m.Name, Function: "reinstallServer", Status: boot.StatusTodo, Spec: spec.Redacted(), Steps: boot.NewSteps()}
		if _, ok := f.tasks[t.ID]; !ok {
			f.tasks[t.ID] = []boot.Task{t}
		}
		reply(w, 201, t)
	})
	mux.HandleFunc("GET /api/v1/machines/{name}/tasks", func(w http.ResponseWriter, r *http.Request) {
		ts := []boot.Task{}
		for id, states := range f.tasks {
			if states[0].Machine == r.PathValue("name") {
				ts = append(ts, states[min(f.polls[id], len(states)-1)])
			}
		}
		reply(w, 200, ts)
	})
	mux.HandleFunc("GET /api/v1/tasks/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, states, ok := f.task(w, r)
		if !ok {
			return
		}
		n := f.polls[id]
		f.polls[id]++
		reply(w, 200, states[min(n, len(states)-1)])
	})
	mux.HandleFunc("POST /api/v1/tasks/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		id, states, ok := f.task(w, r)
		if !ok {
			return
		}
		t := states[len(states)-1]
		t.Status = boot.StatusCancelled
		f.tasks[id] = append(states, t)
		f.polls[id] = len(states)
		reply(w, 200, t)
	})
	mux.Handle("/api/v1/credentials", f.creds)
	mux.Handle("/api/v1/credentials/", f.creds)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, recorded{r.Method, r.URL.Path, string(body)})
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			replyError(w, 401, "Invalid bearer token")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) machine(w http.ResponseWriter, r *http.Request) (boot.Machine, bool) {
	m, ok := f.machines[r.PathValue("name")]
	if !ok {
		replyError(w, 404, "The requested object (serviceName = "+r.PathValue("name")+") does not exist")
	}
	return m, ok
}

// task finds the task of the request's {id} and its states, or answers 404.
func (f *fakeAPI) task(w http.ResponseWriter, r *http.Request) (int64, []boot.Task, bool) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	states, ok := f.tasks[id]
	if !ok {
		replyError(w, 404, fmt.Sprintf("task %d: not found", id))
	}
	return id, states, ok
}

// last returns the last request received with the given method.
func (f *fakeAPI) last(method string) recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if f.requests[i].Method == method {
			return f.requests[i]
		}
	}
	return recorded{}
}

func decodeStrictly(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		replyError(w, 400, "Invalid JSON body: "+err.Error())
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, status int, msg string) {
	reply(w, status, map[string]string{"class": "Client::BadRequest", "message": msg})
}

// run runs a client command against the fake server and returns what it
// printed.
func (f *fakeAPI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runClient(t, append(args, "--server", f.srv.URL, "--token", testToken)...)
}

// runClient runs `byoi ARGS…` with only the client commands.
func runClient(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{
		Name: "byoi", Commands: clientCommands(), Writer: &out, ErrWriter: &out,
		ExitErrHandler: func(*cli.Context, error) {},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := app.RunContext(ctx, append([]string{"byoi"}, args...))
	return out.String(), err
}

func TestClientConnection(t *testing.T) {
	f := newFakeAPI(t)
	f.machines["a"] = boot.Machine{Name: "a", MACs: []string{"52:54:00:00:00:01"}}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, auth.AdminTokenFile), []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string // error substring, "" for success
	}{
		{"token from the state dir", []string{"machines", "list", "--server", f.srv.URL, "--state-dir", dir}, nil, ""},
		{"token and server from the environment", []string{"machines", "list", "--state-dir", empty},
			map[string]string{"BYOI_TOKEN": testToken, "BYOI_SERVER": f.srv.URL}, ""},
		{"state dir from the environment", []string{"machines", "list", "--server", f.srv.URL}, map[string]string{"BYOI_STATE_DIR": dir}, ""},
		{"no token anywhere", []string{"machines", "list", "--server", f.srv.URL, "--state-dir", empty}, nil,
			"no API token: run `byoi login` once (it keeps the server URL and a token file in "},
		{"wrong token", []string{"machines", "list", "--server", f.srv.URL, "--token", "byoi_nope"}, nil, "Invalid bearer token (HTTP 401)"},
		{"server not reachable", []string{"machines", "list", "--server", "http://127.0.0.1:1", "--token", testToken}, nil, "cannot reach byoi at http://127.0.0.1:1: "},
		{"bad server URL", []string{"machines", "list", "--server", "127.0.0.1:8080", "--token", testToken}, nil, `--server "127.0.0.1:8080": an http:// or https:// URL is expected`},
		{"bad output", []string{"machines", "list", "--server", f.srv.URL, "--token", testToken, "-o", "yaml"}, nil, `--output "yaml": use text or json`},
		{"unknown machine", []string{"machines", "show", "zz", "--server", f.srv.URL, "--token", testToken}, nil,
			"The requested object (serviceName = zz) does not exist (HTTP 404)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"BYOI_TOKEN", "BYOI_SERVER", "BYOI_STATE_DIR"} {
				t.Setenv(k, tc.env[k])
				if tc.env[k] == "" {
					os.Unsetenv(k)
				}
			}
			out, err := runClient(t, tc.args...)
			if tc.want == "" {
				if err != nil || !strings.Contains(out, "52:54:00:00:00:01") {
					t.Fatalf("byoi %s = %q, %v, want the machine list", strings.Join(tc.args, " "), out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("byoi %s error = %v, want it to contain %q", strings.Join(tc.args, " "), err, tc.want)
			}
		})
	}
}

func TestLateFlags(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantArgs []string
		wantURL  string
		wantHdrs []string
		wantWait bool
		wantErr  string
	}{
		{"flags first", []string{"--image-url", "u1", "NAME"}, []string{"NAME"}, "u1", nil, false, ""},
		{"flags after the name", []string{"NAME", "--image-url", "u2", "--wait", "--header", "a:1", "--header=b:2"}, []string{"NAME"}, "u2", []string{"a:1", "b:2"}, true, ""},
		{"equals form", []string{"NAME", "--image-url=u3", "--wait=false"}, []string{"NAME"}, "u3", nil, false, ""},
		{"alias after the name", []string{"NAME", "-u", "u4"}, []string{"NAME"}, "u4", nil, false, ""},
		{"double dash ends flags", []string{"NAME", "--", "--image-url"}, []string{"NAME", "--image-url"}, "", nil, false, ""},
		{"unknown flag", []string{"NAME", "--nope"}, nil, "", nil, false, "x: unknown flag --nope (see `byoi help x`)"},
		{"typo", []string{"NAME", "--imag-url", "u"}, nil, "", nil, false, "x: unknown flag --imag-url (did you mean --image-url?)"},
		{"missing value", []string{"NAME", "--image-url"}, nil, "", nil, false, "x: flag --image-url needs a value"},
		{"bad bool", []string{"NAME", "--wait=maybe"}, nil, "", nil, false, `x: invalid value "maybe" for --wait: true or false is expected`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gotArgs []string
			var gotURL string
			var gotHdrs []string
			var gotWait bool
			cmd := &cli.Command{
				Name:  "x",
				Flags: []cli.Flag{&cli.StringFlag{Name: "image-url", Aliases: []string{"u"}}, &cli.BoolFlag{Name: "wait"}, &cli.StringSliceFlag{Name: "header"}},
				Action: clientAction(func(c *cli.Context, args []string) error {
					gotArgs, gotURL, gotHdrs, gotWait = args, c.String("image-url"), c.StringSlice("header"), c.Bool("wait")
					return nil
				}),
			}
			app := &cli.App{Commands: []*cli.Command{cmd}, Writer: io.Discard, ErrWriter: io.Discard, ExitErrHandler: func(*cli.Context, error) {}}
			err := app.Run(append([]string{"byoi", "x"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("run(%q) = %v, want an error containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("run(%q) = %v", tc.args, err)
			}
			if !slices.Equal(gotArgs, tc.wantArgs) || gotURL != tc.wantURL || !slices.Equal(gotHdrs, tc.wantHdrs) || gotWait != tc.wantWait {
				t.Errorf("run(%q) saw args %q, image-url %q, headers %q, wait %v; want %q, %q, %q, %v",
					tc.args, gotArgs, gotURL, gotHdrs, gotWait, tc.wantArgs, tc.wantURL, tc.wantHdrs, tc.wantWait)
			}
		})
	}
}

func TestAPIErrorBodies(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/machines/html":
			w.WriteHeader(502)
			io.WriteString(w, "<html>bad gateway</html>")
		case "/api/v1/machines/empty":
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	api := &apiClient{base: mustParseURL(t, srv.URL), token: "t", hc: srv.Client()}
	for _, tc := range []struct{ path, want string }{
		{"html", "<html>bad gateway</html> (HTTP 502)"},
		{"empty", "server answered 503 Service Unavailable"},
	} {
		_, err := api.do(t.Context(), "GET", apiPath("machines", tc.path), nil, nil)
		var ae *apiError
		if !errors.As(err, &ae) || err.Error() != tc.want {
			t.Errorf("do(GET %s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}

func TestClientCommandsInMain(t *testing.T) {
	f := newFakeAPI(t)
	f.machines["rack1"] = boot.Machine{Name: "rack1", MACs: []string{"52:54:00:00:00:01"}}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"byoi", "machines", "list", "-o", "json", "--server", f.srv.URL, "--token", testToken}, &stdout, &stderr)
	var ms []boot.Machine
	if err != nil || json.Unmarshal(stdout.Bytes(), &ms) != nil || len(ms) != 1 || ms[0].Name != "rack1" {
		t.Errorf("run(byoi machines list -o json) = %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
}
