package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBMCUnreachable runs the real `byoi serve` on loopback with a machine
// whose IPMI address has nothing listening (the kernel answers port
// unreachable). A reinstall is accepted and stays todo; byoi tries the
// network boot and power cycle with backoff, then gives up; the machine's
// events, `byoi power status` and `byoi wait` say it could not power-cycle
// the machine via IPMI at that address and to power-cycle it by hand. The
// password appears nowhere.
func TestBMCUnreachable(t *testing.T) {
	state := t.TempDir()
	args := serveArgs(t, state, filesDir(t), freeAddr(t))
	base := "http://" + args[slicesIndex(args, "--http-listen")+1]
	startServe(t, args)
	waitUp(t, http.DefaultClient, base+"/1.0/auth/time")
	cli := []string{"--server", base, "--state-dir", state}
	byoi := func(args ...string) string {
		t.Helper()
		out, err := runClient(t, append(args, cli...)...)
		if err != nil {
			t.Fatalf("byoi %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bmcAddr := pc.LocalAddr().String()
	pc.Close() // nothing listens there any more
	const password = "bmc-Secret-7f3a"
	pwFile := filepath.Join(t.TempDir(), "bmc.pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	byoi("machines", "add", "rack1-07", "--mac", "52:54:00:00:00:07")
	set := byoi("power", "rack1-07", "set", "--driver", "ipmi", "--address", bmcAddr, "--username", "admin", "--password-file", pwFile)
	if want := "rack1-07: ipmi at " + bmcAddr + " (password stored sealed)\nThe BMC did not answer (settings kept): could not read the power state of rack1-07 via IPMI at " + bmcAddr + ": BMC unreachable"; !strings.HasPrefix(set, want) {
		t.Errorf("power set printed %q, want it to start with %q", set, want)
	}
	start := time.Now()
	created := byoi("deploy", "rack1-07", "--image-url", "http://198.51.100.9/img.raw", "--image-type", "raw")
	task := regexp.MustCompile(`Task (\d+) created`).FindStringSubmatch(created)
	if task == nil {
		t.Fatalf("deploy printed %q, want the task id", created)
	}

	// byoi wait follows the task while byoi retries the BMC.
	var waitOut syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	waitDone := make(chan error, 1)
	go func() {
		waitDone <- run(ctx, append([]string{"byoi", "wait", "rack1-07", "--interval", "200ms", "--progress", "plain"}, cli...), &waitOut, &waitOut)
	}()
	defer cancel()

	// The retries (4 attempts, waits of 2, 4 and 8 s) end within a minute.
	// Polled over plain HTTP: urfave/cli's shared flags must not be parsed
	// by two commands at once.
	tok, err := os.ReadFile(filepath.Join(state, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(500 * time.Millisecond) {
		m := getJSON[machineView](t, base+"/api/v1/machines/rack1-07", tok)
		if (m.LastPower != nil && !m.LastPower.Pending()) || time.Now().After(deadline) {
			break
		}
	}
	gaveUp := time.Since(start)
	time.Sleep(time.Second) // wait's next polls see the end
	cancel()
	if err := <-waitDone; err == nil {
		t.Errorf("byoi wait returned nil for a task that never started")
	}
	want := "could not power-cycle rack1-07 via IPMI at " + bmcAddr + ": one-time PXE boot: BMC unreachable"
	status := byoi("power", "rack1-07", "status")
	t.Logf("byoi gave up on the BMC after %s:\n%s", gaveUp.Round(100*time.Millisecond), status)
	if !strings.Contains(status, "last action: network boot and power-cycle (reinstall, task "+task[1]+"), failed at ") || !strings.Contains(status, want) {
		t.Fatalf("power status = %q, want the failed network boot with %q", status, want)
	}
	wout := waitOut.String()
	t.Logf("byoi wait printed:\n%s", wout)
	for _, w := range []string{
		"Task " + task[1] + " on rack1-07: waiting\n",
		"  power: network boot and power-cycle (reinstall, task " + task[1] + "): attempt 1 failed, retrying: " + want,
		"  power: network boot and power-cycle (reinstall, task " + task[1] + ") failed: " + want,
		"; power-cycle rack1-07 by hand (network boot first); waiting ",
	} {
		if !strings.Contains(wout, w) {
			t.Errorf("byoi wait output lacks %q:\n%s", w, wout)
		}
	}

	show := byoi("machines", "show", "rack1-07")
	if st := byoi("status", "rack1-07"); !strings.Contains(st, "Task "+task[1]+" on rack1-07: waiting\n") {
		t.Errorf("the task is no longer waiting after the BMC failed:\n%s", st)
	}
	if got := getJSON[boot.Task](t, base+"/api/v1/tasks/"+task[1], tok); got.Status != boot.StatusTodo {
		t.Errorf("task %s after the BMC failed = %s, want todo", task[1], got.Status)
	}
	// The real machine view carries the BMC settings next to the power
	// state of the machine list.
	if !strings.Contains(show, "\nBMC: ipmi at "+bmcAddr+"\n") || !regexp.MustCompile(`\nPower: +unknown\n`).MatchString(show) {
		t.Errorf("machines show lacks the BMC settings or the power state:\n%s", show)
	}
	events := show[strings.Index(show, "Events:"):]
	var attempts, final int
	for _, l := range strings.Split(events, "\n") {
		if strings.Contains(l, "power: network boot and power-cycle (reinstall, task "+task[1]+"), attempt ") && strings.Contains(l, want) {
			attempts++
		}
		if strings.Contains(l, "failed: "+want) && strings.HasSuffix(l, "; power-cycle it by hand (PXE first)") {
			final++
		}
	}
	if attempts != 4 || final != 1 {
		t.Errorf("events: %d attempts and %d final failures, want 4 and 1 saying %q and to power-cycle by hand:\n%s", attempts, final, want, events)
	}
	for name, out := range map[string]string{"power set": set, "wait": wout, "status": status, "show": show} {
		if strings.Contains(out, password) {
			t.Errorf("byoi %s shows the BMC password:\n%s", name, out)
		}
	}
}

// getJSON is GET url with the admin token, decoded.
func getJSON[T any](t *testing.T, url string, token []byte) T {
	t.Helper()
	var v T
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		err = json.NewDecoder(res.Body).Decode(&v)
		res.Body.Close()
	}
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}
