package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/server/web"
	"github.com/google/go-cmp/cmp"
)

// startInstall creates a task on machine and runs it through the real
// lifecycle up to the write step at the given bytes, as a booted machine
// and its installer would.
func startInstall(t *testing.T, r *realServer, machine, mac string, done, total int64) boot.Task {
	t.Helper()
	ctx := context.Background()
	lc := lifecycle.New(r.st, lifecycle.Config{})
	task, err := lc.Create(ctx, machine, boot.InstallSpec{ImageURL: "http://198.51.100.9/d.raw", ImageType: "raw"}, lifecycle.FunctionReinstall)
	if err != nil {
		t.Fatal(err)
	}
	res, err := lc.Boot(ctx, lifecycle.BootRequest{MAC: mac, Client: "efi/x86_64"})
	if err != nil || res.Token == "" {
		t.Fatalf("Boot = %+v, %v; want an installer token", res, err)
	}
	hash := lifecycle.HashToken(res.Token)
	if _, _, err := lc.Start(ctx, hash); err != nil {
		t.Fatal(err)
	}
	for _, p := range []agentapi.Progress{
		{Step: boot.StepDownload, Status: boot.StepDone}, {Step: boot.StepCheck, Status: boot.StepDone},
		{Step: boot.StepWrite, Status: boot.StepDoing, BytesDone: done, BytesTotal: total},
	} {
		if err := lc.Progress(ctx, hash, p); err != nil {
			t.Fatal(err)
		}
	}
	return task
}

func TestMachinesListColumns(t *testing.T) {
	r := newRealServer(t)
	for _, args := range [][]string{
		{"machines", "add", "rack1-01", "--mac", "52:54:00:00:00:01", "--ipv4", "198.51.100.21"},
		{"machines", "add", "rack1-02", "--mac", "52:54:00:00:00:02"},
		{"machines", "add", "rack1-03", "--mac", "52:54:00:00:00:03"},
	} {
		if _, err := r.run(t, args...); err != nil {
			t.Fatalf("byoi %s = %v", strings.Join(args, " "), err)
		}
	}
	startInstall(t, r, "rack1-01", "52:54:00:00:00:01", 1<<30, 4<<30)
	if _, err := r.run(t, "deploy", "rack1-02", "--image-url", "http://198.51.100.9/d.raw", "--image-type", "raw"); err != nil {
		t.Fatal(err)
	}
	out, err := r.run(t, "machines", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(lines[0])
	if diff := cmp.Diff([]string{"NAME", "STATE", "POWER", "PROGRESS", "IP", "LAST", "BOOT", "MACS"}, header); diff != "" {
		t.Errorf("machines list header (-want +got):\n%s", diff)
	}
	for _, want := range []string{
		"rack1-01  installing  —      4/8 Writing image to disk 28% (1.0 GiB of 4.0 GiB)  198.51.100.21",
		"rack1-02  waiting     —      task 2 waiting",
		"rack1-03  new         —      -",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("machines list lacks %q:\n%s", want, out)
		}
	}
	out, err = r.run(t, "machines", "list", "-o", "json")
	var ms []web.MachineSummary
	if err != nil || json.Unmarshal([]byte(out), &ms) != nil || len(ms) != 3 || ms[0].State != "installing" || ms[0].Task.Percent != 28 || ms[0].Power != nil {
		t.Errorf("machines list -o json = %s, %v", out, err)
	}
}

func TestMachinesListWatch(t *testing.T) {
	r := newRealServer(t)
	if _, err := r.run(t, "machines", "add", "a", "--mac", "52:54:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncWriter{w: &strings.Builder{}}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"byoi", "machines", "list", "--watch", "--interval", "50ms", "--server", r.url, "--token", r.token}, out, os.Stderr)
	}()
	// Wait for the first table rather than sleeping: under -race on a
	// loaded machine the first fetch can take longer than any fixed pause.
	waitFor(t, func() bool { return strings.Contains(out.String(), "\na ") })
	time.Sleep(200 * time.Millisecond) // a few unchanged refreshes, which print nothing
	if _, err := r.run(t, "machines", "add", "b", "--mac", "52:54:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), "\nb ") })
	time.Sleep(200 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("machines list --watch = %v, want nil after Ctrl-C", err)
	}
	got := out.String()
	// Not a terminal: the table is printed again only when it changed.
	if n := strings.Count(got, "NAME "); n != 2 || !strings.Contains(got, "\nb ") {
		t.Errorf("--watch printed %d tables, want 2 (before and after b was added):\n%s", n, got)
	}
	if _, err := r.run(t, "machines", "list", "--watch", "--interval", "0s"); err == nil || !strings.Contains(err.Error(), "--interval 0s: must be positive") {
		t.Errorf("--watch --interval 0s = %v", err)
	}
}

func TestTasksAcrossMachines(t *testing.T) {
	r := newRealServer(t)
	for i, n := range []string{"a", "b"} {
		if _, err := r.run(t, "machines", "add", n, "--mac", fmt.Sprintf("52:54:00:00:00:0%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	deploy := func(m string) {
		if _, err := r.run(t, "deploy", m, "--image-url", "http://198.51.100.9/"+m+".raw", "--image-type", "raw"); err != nil {
			t.Fatal(err)
		}
	}
	deploy("a")
	if _, err := r.run(t, "cancel", "a"); err != nil {
		t.Fatal(err)
	}
	deploy("b")
	deploy("a")
	out, err := r.run(t, "tasks")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var got [][]string
	for _, l := range lines {
		f := strings.Fields(l)
		got = append(got, f[:3])
	}
	want := [][]string{{"ID", "MACHINE", "STATUS"}, {"3", "a", "waiting"}, {"2", "b", "waiting"}, {"1", "a", "cancelled"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("byoi tasks (-want +got):\n%s\n%s", diff, out)
	}
	if !strings.Contains(lines[3], "Cancelled by an operator") || strings.Contains(out, "credential") {
		t.Errorf("cancelled task's message: %q", lines[3])
	}
	for _, tc := range []struct {
		args []string
		ids  []string
	}{
		{[]string{"tasks", "a"}, []string{"3", "1"}},
		{[]string{"tasks", "--status", "cancelled"}, []string{"1"}},
		{[]string{"tasks", "--status", "waiting", "--limit", "1"}, []string{"3"}},
	} {
		out, err := r.run(t, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			ids = append(ids, strings.Fields(l)[0])
		}
		if diff := cmp.Diff(tc.ids, ids); diff != "" {
			t.Errorf("byoi %s IDs (-want +got):\n%s", strings.Join(tc.args, " "), diff)
		}
	}
	if _, err := r.run(t, "tasks", "--status", "faild"); err == nil || err.Error() != `--status "faild": unknown status (did you mean failed?)` {
		t.Errorf("tasks --status faild = %v", err)
	}
	if _, err := r.run(t, "tasks", "nope"); err == nil || !strings.Contains(err.Error(), "machine nope: not found") {
		t.Errorf("tasks nope = %v", err)
	}
}

// TestDeployWaitFlagsCheckedFirst: a bad --interval fails before the task
// exists, so the retry does not get 409.
func TestDeployWaitFlagsCheckedFirst(t *testing.T) {
	r := newRealServer(t)
	if _, err := r.run(t, "machines", "add", "a", "--mac", "52:54:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--wait", "--interval", "0s"}, "--interval 0s: must be positive"},
		{[]string{"--wait", "--progress", "fancy"}, `--progress "fancy": use auto, bar or plain`},
		{[]string{"--wait", "--reconnect-timeout", "-1s"}, "--reconnect-timeout -1s: must be positive"},
		{[]string{"--interval", "soon"}, `deploy: invalid value "soon" for --interval: a duration such as 500ms, 2s or 1m30s is expected`},
	} {
		args := append([]string{"deploy", "a", "--image-url", "http://198.51.100.9/d.raw", "--image-type", "raw"}, tc.args...)
		if _, err := r.run(t, args...); err == nil || err.Error() != tc.want {
			t.Errorf("byoi %s = %v, want %q", strings.Join(args, " "), err, tc.want)
		}
	}
	if ts, err := r.st.RecentTasks(context.Background(), 0, nil); err != nil || len(ts) != 0 {
		t.Fatalf("tasks after refused deploys = %d, %v; want none", len(ts), err)
	}
}

// TestWaitSaysWhatItWaitsFor follows a task whose machine never boots,
// then boots: the plain output says which, and the server going away and
// coming back is reported, not fatal.
func TestWaitSaysWhatItWaitsFor(t *testing.T) {
	r := newRealServer(t)
	if _, err := r.run(t, "machines", "add", "a", "--mac", "52:54:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.run(t, "deploy", "a", "--image-url", "http://198.51.100.9/d.raw", "--image-type", "raw"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out strings.Builder
	w := &syncWriter{w: &out}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"byoi", "wait", "a", "--interval", "50ms", "--progress", "plain", "--server", r.url, "--token", r.token}, w, os.Stderr)
	}()
	waitFor(t, func() bool { return strings.Contains(w.String(), "machine has not PXE-booted yet") })
	lc := lifecycle.New(r.st, lifecycle.Config{})
	if _, err := lc.Boot(context.Background(), lifecycle.BootRequest{MAC: "52:54:00:00:00:01", Client: "efi/x86_64"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(w.String(), "waiting for the installer to start\n") })
	cancel()
	<-done
	got := w.String()
	for _, want := range []string{
		"Task 1 on a: waiting\n  machine has not PXE-booted yet (power it on or reset it, network boot first)\n",
		"  machine network-booted at ",
		"; waiting for the installer to start\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("byoi wait output lacks %q:\n%s", want, got)
		}
	}
}

func TestWaitReconnects(t *testing.T) {
	r := newRealServer(t)
	if _, err := r.run(t, "machines", "add", "a", "--mac", "52:54:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	task := startInstall(t, r, "a", "52:54:00:00:00:01", 1, 2)
	// A listener that drops the server for a while: close the real one
	// and serve the same handler again on the same address later.
	addr := r.http.Listener.Addr().String()
	var out strings.Builder
	w := &syncWriter{w: &out}
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"byoi", "wait", "a", "--interval", "50ms", "--progress", "plain", "--server", r.url, "--token", r.token}, w, os.Stderr)
	}()
	waitFor(t, func() bool { return strings.Contains(w.String(), "Task 1 on a: installing") })
	r.http.Close()
	waitFor(t, func() bool { return strings.Contains(w.String(), "does not answer (connection refused); retrying") })
	l := listenAgain(t, addr)
	srv := &httpServer{}
	srv.serve(l, r.srv.Handler())
	defer srv.close()
	lc := lifecycle.New(r.st, lifecycle.Config{})
	tk, _ := r.st.Task(context.Background(), task.ID)
	if _, err := lc.Cancel(context.Background(), tk.ID, "test over"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "ended cancelled: test over") {
			t.Errorf("wait = %v, want the task's end after the server came back", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not notice the server came back")
	}
}

func TestBackupCommand(t *testing.T) {
	r := newRealServer(t)
	if _, err := r.run(t, "machines", "add", "a", "--mac", "52:54:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	// The server's control socket: a hot copy while the store is open.
	stop, err := serveControl(context.Background(), r.stateDir, r.st, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "b.db")
	out, err := r.run(t, "backup", dest, "--state-dir", r.stateDir)
	if err != nil || !strings.Contains(out, "bytes, hot copy from the running server): 1 machines, 0 tasks.") {
		t.Fatalf("backup = %q, %v", out, err)
	}
	if fi, err := os.Stat(filepath.Join(r.stateDir, controlSocketFile)); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("control socket %v, %v: want it private to its owner", fi.Mode(), err)
	}
	stop()
	// No server: the file is copied directly (the store must be closed).
	r.http.Close()
	r.st.Close()
	out, err = r.run(t, "backup", dest, "--state-dir", r.stateDir)
	if err != nil || !strings.Contains(out, "bytes, no server running: copied from the file): 1 machines, 0 tasks.") {
		t.Fatalf("offline backup = %q, %v", out, err)
	}
	if _, err := r.run(t, "backup", dest, "--state-dir", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no store in") {
		t.Errorf("backup of an empty dir = %v", err)
	}
}

func TestMachinesShowStateAndPower(t *testing.T) {
	r := newRealServer(t)
	if _, err := r.run(t, "machines", "add", "a", "--mac", "52:54:00:00:00:01"); err != nil {
		t.Fatal(err)
	}
	out, err := r.run(t, "machines", "show", "a")
	if err != nil || !strings.Contains(out, "State:          new\n") || !strings.Contains(out, "Power:          —\n") {
		t.Errorf("machines show = %v:\n%s", err, out)
	}
}
