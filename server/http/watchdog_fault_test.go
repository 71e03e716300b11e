package http

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

const (
	wdMachine = "web-1"
	wdMAC     = "52:54:00:00:00:01"
	wdScript  = "/ipxe/machine?platform=efi&buildarch=x86_64&mac=" + wdMAC
)

// lastEvent is the machine's newest event.
func lastEvent(t *testing.T, e *env, name string) boot.Event {
	t.Helper()
	es, err := e.st.Events(context.Background(), name, 1)
	if err != nil || len(es) != 1 {
		t.Fatalf("Events(%s, 1) = %v, %v; want one event", name, es, err)
	}
	return es[0]
}

// TestWatchdogInstallerKilled: an installer that dies mid-write (VM reset
// that never comes back) ends its task in ovhError once InstallerTimeout
// passes without a report, the machine does not switch to local boot, and
// a new reinstall is accepted.
func TestWatchdogInstallerKilled(t *testing.T) {
	ctx := context.Background()
	timeout := 10 * time.Minute
	e := newEnv(t, func(c *Config) { c.InstallerTimeout = timeout })
	tok := bootInstaller(t, e, wdMachine, wdMAC, validReinstall)
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	e.advance(time.Minute)
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"doing","bytesDone":4096,"bytesTotal":65536}`, 204)
	lastReport := e.clock()

	steps := []struct {
		name     string
		advance  time.Duration
		wantEnds int
		want     boot.Status
	}{
		{"one report ago", time.Second, 0, boot.StatusDoing},
		{"exactly the timeout", timeout - time.Second, 0, boot.StatusDoing},
		{"just past the timeout", time.Second, 1, boot.StatusOVHError},
		{"already ended", time.Hour, 0, boot.StatusOVHError},
	}
	for _, st := range steps {
		e.advance(st.advance)
		n, err := e.srv.CheckInstallers(ctx)
		if err != nil || n != st.wantEnds {
			t.Fatalf("%s: CheckInstallers() = %d, %v; want %d, nil", st.name, n, err, st.wantEnds)
		}
		ts, _ := e.st.Tasks(ctx, wdMachine)
		if ts[0].Status != st.want {
			t.Fatalf("%s: task status = %s, want %s", st.name, ts[0].Status, st.want)
		}
	}

	ts, _ := e.st.Tasks(ctx, wdMachine)
	task := ts[0]
	wantMsg := "Installer stopped reporting (last report at 2025-06-01T12:01:00Z)"
	if lastReport != t0.Add(time.Minute) || task.Message != wantMsg {
		t.Errorf("task message = %q, want %q", task.Message, wantMsg)
	}
	if w := task.Step(boot.StepWrite); w.Status != boot.StepError || w.Error != wantMsg {
		t.Errorf("write step = %s %q, want error %q", w.Status, w.Error, wantMsg)
	}
	if got, want := task.DoneDate, t0.Add(time.Minute+timeout+time.Second); !got.Equal(want) {
		t.Errorf("task done date = %v, want %v", got, want)
	}
	if ev := lastEvent(t, e, wdMachine); ev.Kind != boot.EventTaskError || ev.TaskID != task.ID || !strings.Contains(ev.Message, wantMsg) {
		t.Errorf("last event = %+v, want %s for task %d with %q", ev, boot.EventTaskError, task.ID, wantMsg)
	}
	if m, _ := e.st.Machine(ctx, wdMachine); m.BootMode != boot.BootModeNone {
		t.Errorf("boot mode after the watchdog = %q, want unchanged (none)", m.BootMode)
	}
	if !strings.Contains(e.logs.String(), "installer stopped reporting") {
		t.Errorf("no log line for the watchdog:\n%s", e.logs.String())
	}

	// The dead installer's token no longer works, the machine does not boot
	// the half-written disk, and a new reinstall goes through.
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"doing","bytesDone":8192}`, 401)
	if script := e.do("GET", wdScript, "", "").Body.String(); strings.Contains(script, "sanboot") || strings.Contains(script, "vmlinuz") {
		t.Errorf("script after the watchdog boots something:\n%s", script)
	}
	e.api("POST", "/1.0/dedicated/server/"+wdMachine+"/reinstall", validReinstall, 200)
	tok2 := scriptToken(t, e.do("GET", wdScript, "", "").Body.String())
	agentDo(t, e, tok2, agentapi.PathTask, "", 200)
	agentDo(t, e, tok2, agentapi.PathDone, `{"bootMode":"local"}`, 204)
	if m, _ := e.st.Machine(ctx, wdMachine); m.BootMode != boot.BootModeLocal {
		t.Errorf("boot mode after the second install = %q, want local", m.BootMode)
	}
}

// TestWatchdogSparesLiveTasks: reports keep a task alive however long it
// runs, todo tasks wait for their machine, and a stale task is ended by a
// new reinstall request even before the next scan.
func TestWatchdogSparesLiveTasks(t *testing.T) {
	ctx := context.Background()
	timeout := 10 * time.Minute
	e := newEnv(t, func(c *Config) { c.InstallerTimeout = timeout })
	tok := bootInstaller(t, e, wdMachine, wdMAC, validReinstall)
	e.addMachine(boot.Machine{Name: "idle-1", MACs: []string{"52:54:00:00:00:02"}})
	e.api("POST", "/1.0/dedicated/server/idle-1/reinstall", validReinstall, 200)
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	for i := range 12 { // two hours, a report every ten minutes minus a second
		e.advance(timeout - time.Second)
		agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"doing","bytesDone":`+itoa(int64(i+1))+`}`, 204)
		if n, err := e.srv.CheckInstallers(ctx); n != 0 || err != nil {
			t.Fatalf("CheckInstallers() after report %d = %d, %v; want 0, nil", i, n, err)
		}
	}
	if idle, _ := e.st.ActiveTask(ctx, "idle-1"); idle.Status != boot.StatusTodo {
		t.Errorf("todo task of a machine that never booted = %s, want todo", idle.Status)
	}

	e.advance(timeout + time.Second)
	w := e.api("POST", "/1.0/dedicated/server/"+wdMachine+"/reinstall", validReinstall, 200)
	ts, _ := e.st.Tasks(ctx, wdMachine)
	if len(ts) != 2 || ts[1].Status != boot.StatusOVHError || ts[0].Status != boot.StatusTodo {
		t.Fatalf("tasks after a reinstall over a stale one = %v, want [todo ovhError] (reply %s)", taskStatuses(ts), w.Body.String())
	}
}

// TestRebootMidInstall: a machine that PXE-boots again after its installer
// fetched its task gets no second token (the task's secrets go to one
// installer only): the task ends in ovhError, the machine exits instead of
// booting its disk (its local boot mode was cleared when the installer
// started), the old token is dead, and a new reinstall works.
func TestRebootMidInstall(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: wdMachine, MACs: []string{wdMAC}, BootMode: boot.BootModeLocal})
	e.api("POST", "/1.0/dedicated/server/"+wdMachine+"/reinstall", validReinstall, 200)
	tok := scriptToken(t, e.do("GET", wdScript, "", "").Body.String())
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	if m, _ := e.st.Machine(ctx, wdMachine); m.BootMode != boot.BootModeNone {
		t.Errorf("boot mode once the installer started = %q, want none (the disk is being rewritten)", m.BootMode)
	}
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"doing","bytesDone":4096}`, 204)

	script := e.do("GET", wdScript, "", "").Body.String()
	if !strings.Contains(script, "byoi: exit") || strings.Contains(script, "vmlinuz") || strings.Contains(script, "sanboot") {
		t.Fatalf("script after a mid-install reboot is not an exit script:\n%s", script)
	}
	task, _ := e.st.Task(ctx, 1)
	if task.Status != boot.StatusOVHError || !strings.HasPrefix(task.Message, "The server rebooted during the installation") {
		t.Errorf("task after a mid-install reboot = %s %q, want ovhError, rebooted during the installation", task.Status, task.Message)
	}
	if st := task.Step(boot.StepWrite); st.Status != boot.StepError || st.Error != task.Message {
		t.Errorf("write step = %s %q, want error with the task message", st.Status, st.Error)
	}
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"doing","bytesDone":8192}`, 401)

	e.api("POST", "/1.0/dedicated/server/"+wdMachine+"/reinstall", validReinstall, 200)
	tok2 := scriptToken(t, e.do("GET", wdScript, "", "").Body.String())
	agentDo(t, e, tok2, agentapi.PathTask, "", 200)
	agentDo(t, e, tok2, agentapi.PathDone, `{"bootMode":"local"}`, 204)
	if m, _ := e.st.Machine(ctx, wdMachine); m.BootMode != boot.BootModeLocal {
		t.Errorf("boot mode after the new reinstall = %q, want local", m.BootMode)
	}
}

// TestServeRunsWatchdog: Serve scans by itself (1 s interval for a 1 s
// timeout, the smallest).
func TestServeRunsWatchdog(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.InstallerTimeout = time.Second })
	tok := bootInstaller(t, e, wdMachine, wdMAC, validReinstall)
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	e.advance(time.Hour)

	serveOnLoopback(t, e)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if task, _ := e.st.Task(context.Background(), 1); task.Status == boot.StatusOVHError {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("task still active 5 s after Serve started with a 1 s watchdog")
}

func taskStatuses(ts []boot.Task) []boot.Status {
	out := make([]boot.Status, len(ts))
	for i, t := range ts {
		out[i] = t.Status
	}
	return out
}
