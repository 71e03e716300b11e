package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/auth"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/byoi/byoi/store"
	"github.com/prometheus/client_golang/prometheus"
)

// apiAgents is how many installers report at once in P5.
const apiAgents = 200

// authAdapter turns auth's Check into server/http's Authenticator, as
// `byoi serve` does.
type authAdapter struct{ a *auth.Authenticator }

func (x authAdapter) CheckHeaders(r *http.Request) error { return x.a.CheckHeaders(r) }

func (x authAdapter) Authenticate(r *http.Request, body []byte) (byoihttp.Principal, error) {
	id, kind, err := x.a.Check(r, body)
	return byoihttp.Principal{CredentialID: id, Kind: kind}, err
}

// apiEnv is an in-process byoi HTTP server over a real bbolt store.
type apiEnv struct {
	base  string
	token string
	hc    *http.Client
}

// benchAPI is P5: task creation and agent progress reports with 200
// concurrent clients against the real server, store and authentication.
func benchAPI(ctx context.Context, c *config, rep *report) error {
	dir, err := os.MkdirTemp(c.work, "api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(ctx)
	env, wait, err := startAPI(ctx, dir)
	if err != nil {
		cancel()
		return err
	}
	defer func() { cancel(); wait() }()
	perAgent := 5
	reports := 25
	if c.quick {
		perAgent, reports = 2, 5
	}
	rep.note("P5: in-process server on 127.0.0.1 with bbolt in %s (disk, fsync per commit) and bearer-token auth; %d concurrent clients over keep-alive connections", c.work, apiAgents)
	names := make([][]string, apiAgents)
	var mu sync.Mutex
	lat, secs, fails := env.parallel(apiAgents, perAgent, func(a, i int) error {
		name := fmt.Sprintf("m-%03d-%d", a, i)
		mac := fmt.Sprintf("02:b7:02:%02x:%02x:%02x", a>>8, a&0xff, i)
		mu.Lock()
		names[a] = append(names[a], name)
		mu.Unlock()
		return env.call(http.MethodPost, "/api/v1/machines", env.token, map[string]any{"serviceName": name, "macs": []string{mac}}, http.StatusCreated, nil)
	})
	apiRow(rep, "create machine", lat, secs, fails)
	lat, secs, fails = env.parallel(apiAgents, perAgent, func(a, i int) error {
		spec := boot.InstallSpec{ImageURL: "http://198.51.100.9/images/debian.qcow2", ImageType: "qcow2"}
		return env.call(http.MethodPost, "/api/v1/machines/"+names[a][i]+"/tasks", env.token, spec, http.StatusCreated, nil)
	})
	apiRow(rep, "create task", lat, secs, fails)
	tokens := make([]string, apiAgents)
	for a := range apiAgents {
		mac := fmt.Sprintf("02:b7:02:%02x:%02x:%02x", a>>8, a&0xff, 0)
		if tokens[a], err = env.installerToken(mac); err != nil {
			return err
		}
	}
	lat, secs, fails = env.parallel(apiAgents, reports, func(a, i int) error {
		p := agentapi.Progress{Step: boot.StepWrite, Status: boot.StepDoing, BytesDone: int64(i+1) * 64 * mib, BytesTotal: int64(reports) * 64 * mib}
		return env.call(http.MethodPost, agentapi.PathProgress, tokens[a], p, http.StatusNoContent, nil)
	})
	apiRow(rep, "agent progress report", lat, secs, fails)
	return nil
}

func startAPI(ctx context.Context, dir string) (*apiEnv, func(), error) {
	st, err := store.Open(filepath.Join(dir, "byoi.db"), store.Options{})
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*apiEnv, func(), error) { st.Close(); return nil, nil, err }
	keys, err := auth.LoadOrCreateKeyring(filepath.Join(dir, auth.KeyFile))
	if err != nil {
		return fail(err)
	}
	a, err := auth.New(st, keys, auth.Options{})
	if err != nil {
		return fail(err)
	}
	tokenFile := filepath.Join(dir, auth.AdminTokenFile)
	if _, err := auth.Bootstrap(ctx, st, tokenFile); err != nil {
		return fail(err)
	}
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	base := "http://" + ln.Addr().String()
	srv, err := byoihttp.New(byoihttp.Config{BaseURL: base, Auth: authAdapter{a}, Credentials: a.Credentials(),
		Registerer: prometheus.NewRegistry()}, st)
	if err != nil {
		ln.Close()
		return fail(err)
	}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ctx, ln); close(done) }()
	env := &apiEnv{base: base, token: strings.TrimSpace(string(tok)),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: apiAgents}}}
	return env, func() { <-done; st.Close() }, nil
}

// call sends one JSON request and checks the status.
func (e *apiEnv) call(method, path, token string, in any, want int, out *[]byte) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		*out = b
	}
	return nil
}

var tokenArg = regexp.MustCompile(regexp.QuoteMeta(agentapi.ParamToken) + `=([A-Za-z0-9_-]+)`)

// installerToken boots the machine's installer script, as iPXE would, and
// takes the one-time token from its kernel command line.
func (e *apiEnv) installerToken(mac string) (string, error) {
	resp, err := e.hc.Get(e.base + "/ipxe/machine?mac=" + mac + "&platform=efi&buildarch=x86_64")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	m := tokenArg.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("no %s in the installer script of %s: %s", agentapi.ParamToken, mac, b)
	}
	return string(m[1]), nil
}

// parallel runs fn(a, i) for i < per in each of n concurrent workers and
// returns the sorted latencies (ms), the wall time and the failures.
func (e *apiEnv) parallel(n, per int, fn func(a, i int) error) ([]float64, float64, []error) {
	var mu sync.Mutex
	var lat []float64
	var errs []error
	var wg sync.WaitGroup
	t0 := time.Now()
	for a := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				s := time.Now()
				err := fn(a, i)
				d := float64(time.Since(s).Microseconds()) / 1000
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, time.Since(t0).Seconds(), errs
}

func apiRow(rep *report, what string, lat []float64, secs float64, errs []error) {
	row := Row{Part: "P5", Case: fmt.Sprintf("%s, %d clients, %d requests", what, apiAgents, len(lat)),
		Metric: "req/s", Byoi: float64(len(lat)) / secs, Failures: len(errs),
		Extra: map[string]float64{"p50ms": lat[len(lat)/2], "p99ms": lat[len(lat)*99/100], "maxms": lat[len(lat)-1], "failures": float64(len(errs))}}
	row.Note = fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", lat[len(lat)/2], lat[len(lat)*99/100])
	if len(errs) > 0 {
		row.Note += fmt.Sprintf("; %d failed, first: %v", len(errs), errs[0])
	}
	rep.add(row)
	rep.add(Row{Part: "P5", Case: what + " p99 latency", Metric: "ms", Byoi: lat[len(lat)*99/100]})
}
