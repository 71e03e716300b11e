package http

import (
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Load test sizes (issue 7): 1000 machines each get a task submitted at
// once; 200 of them then run an agent that reports progress every 100 ms.
const (
	loadMachines = 1000
	loadAgents   = 200
	loadPeriod   = 100 * time.Millisecond
)

// loadClient sends requests to the in-process server over loopback and
// records each one's latency by kind.
type loadClient struct {
	base string
	hc   *nethttp.Client
	mu   sync.Mutex
	lat  map[string][]time.Duration
}

func (c *loadClient) do(kind, method, path, auth, body string) (int, string, error) {
	req, err := nethttp.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	c.mu.Lock()
	c.lat[kind] = append(c.lat[kind], d)
	c.mu.Unlock()
	return resp.StatusCode, string(b), err
}

// percentile returns the p-th percentile (0 < p <= 1) of ds, sorted in place.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds))*p+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func loadMAC(i int) string { return fmt.Sprintf("52:54:00:10:%02x:%02x", i>>8, i&0xff) }

// agentRun boots machine i into the installer, marks itself ready and
// reports write progress every loadPeriod until stop closes. It returns the bytes of the last
// report the server acknowledged.
func agentRun(c *loadClient, i int, ready *sync.WaitGroup, stop <-chan struct{}) (int64, error) {
	once := sync.OnceFunc(ready.Done)
	defer once()
	code, script, err := c.do("script", "GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+loadMAC(i), "", "")
	if err != nil || code != 200 {
		return 0, fmt.Errorf("machine %d script = %d, %v", i, code, err)
	}
	m := tokenRE.FindStringSubmatch(script)
	if m == nil {
		return 0, fmt.Errorf("machine %d script has no token:\n%s", i, script)
	}
	auth := "Bearer " + m[1]
	if code, body, err := c.do("agent task", "GET", agentapi.PathTask, auth, ""); err != nil || code != 200 {
		return 0, fmt.Errorf("machine %d task = %d %s, %v", i, code, body, err)
	}
	once()
	tick := time.NewTicker(loadPeriod)
	defer tick.Stop()
	var acked int64
	for n := int64(1); ; n++ {
		select {
		case <-stop:
			return acked, nil
		case <-tick.C:
		}
		body := fmt.Sprintf(`{"step":"write","status":"doing","bytesDone":%d,"bytesTotal":1099511627776}`, n*4096)
		code, resp, err := c.do("progress", "POST", agentapi.PathProgress, auth, body)
		if err != nil || code != 204 {
			return acked, fmt.Errorf("machine %d progress %d = %d %s, %v", i, n, code, resp, err)
		}
		acked = n * 4096
	}
}

// TestLoad: 1000 concurrent submissions on 1000 machines, 200 of which
// then run an agent reporting every 100 ms for 5 s, against the real server
// and a bbolt store over loopback. Nothing may be lost or applied twice.
// The latencies are only logged here (this runs under -race in make unit);
// TestLoadLatency judges them.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	runLoad(t, 5*time.Second)
}

// runLoad runs the load scenario with progress reports for dur, checks the
// store and returns the latencies by kind of request.
func runLoad(t *testing.T, dur time.Duration) map[string][]time.Duration {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	setup := time.Now()
	var wg sync.WaitGroup
	for i := range loadMachines {
		wg.Go(func() {
			if _, err := st.CreateMachine(ctx, boot.Machine{Name: fmt.Sprintf("load-%04d", i), MACs: []string{loadMAC(i)}}); err != nil {
				t.Errorf("CreateMachine(%d) = %v", i, err)
			}
		})
	}
	wg.Wait()
	t.Logf("setup: %d machines in %v", loadMachines, time.Since(setup).Round(time.Millisecond))

	reg := prometheus.NewRegistry()
	srv, err := New(Config{BaseURL: "http://198.51.100.1:8080", Auth: &fakeAuth{}, Registerer: reg}, st)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, l) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v", err)
		}
	}()
	tr := &nethttp.Transport{MaxIdleConns: 2 * loadMachines, MaxIdleConnsPerHost: 2 * loadMachines}
	defer tr.CloseIdleConnections()
	c := &loadClient{base: "http://" + l.Addr().String(), hc: &nethttp.Client{Transport: tr, Timeout: 30 * time.Second}, lat: map[string][]time.Duration{}}

	stop := make(chan struct{})
	var ready sync.WaitGroup // agents that fetched their task
	ready.Add(loadAgents)
	acked := make([]int64, loadAgents)
	start := time.Now()
	for i := range loadMachines {
		wg.Go(func() {
			path := fmt.Sprintf("/1.0/dedicated/server/load-%04d/reinstall", i)
			code, body, err := c.do("submit", "POST", path, "Bearer good", validReinstall)
			if err != nil || code != 200 {
				t.Errorf("POST %s = %d %s, %v", path, code, body, err)
			}
			if i < loadAgents {
				if acked[i], err = agentRun(c, i, &ready, stop); err != nil {
					t.Error(err)
				}
			}
		})
	}
	ready.Wait()
	up := time.Since(start)
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	checkLoadStore(t, st, reg, acked)

	for _, kind := range []string{"submit", "script", "agent task", "progress"} {
		ds := c.lat[kind]
		t.Logf("%-10s n=%5d  p50=%-8v p99=%-8v max=%v", kind, len(ds),
			percentile(ds, 0.5).Round(10*time.Microsecond), percentile(ds, 0.99).Round(10*time.Microsecond), percentile(ds, 1).Round(10*time.Microsecond))
	}
	t.Logf("submissions and %d agents up in %v, then progress for %v: %.0f reports/s", loadAgents, up.Round(time.Millisecond), dur, float64(len(c.lat["progress"]))/(elapsed-up).Seconds())
	return c.lat
}

// checkLoadStore checks that the store holds exactly one task per machine
// and, for each agent, the bytes of its last acknowledged report; the
// bytes-written counter (a sum of per-report increments) must equal the
// sum, so no report was applied twice or lost.
func checkLoadStore(t *testing.T, st *store.Store, reg *prometheus.Registry, acked []int64) {
	t.Helper()
	ctx := context.Background()
	var sum int64
	for i := range loadMachines {
		name := fmt.Sprintf("load-%04d", i)
		ts, err := st.Tasks(ctx, name)
		if err != nil || len(ts) != 1 {
			t.Errorf("Tasks(%s) = %d tasks, %v; want exactly one", name, len(ts), err)
			continue
		}
		if i >= loadAgents {
			continue
		}
		got := ts[0].Step(boot.StepWrite).BytesDone
		if got != acked[i] || ts[0].Status != boot.StatusDoing {
			t.Errorf("task of %s = %s with %d bytes written, want doing with %d (the last acknowledged report)", name, ts[0].Status, got, acked[i])
		}
		sum += got
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	var counter float64
	for _, mf := range mfs {
		if mf.GetName() == "byoi_install_written_bytes_total" {
			counter = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if int64(counter) != sum {
		t.Errorf("byoi_install_written_bytes_total = %.0f, want %d (sum of the agents' last reports)", counter, sum)
	}
}
