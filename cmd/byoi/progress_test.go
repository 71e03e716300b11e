package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

var updateClientGolden = flag.Bool("update-client", false, "rewrite the client commands' golden files")

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// taskStates is a task's life as successive polls see it: the download and
// write steps report bytes with server times; the last state is final.
func taskStates(final boot.Status) []boot.Task {
	t0 := time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC)
	cur := boot.Task{ID: 42, Machine: "rack1-07", Function: "reinstallServer", Status: boot.StatusTodo, Steps: boot.NewSteps()}
	states := []boot.Task{cur}
	next := func(fn func(t *boot.Task)) {
		cur.Steps = slices.Clone(cur.Steps)
		fn(&cur)
		states = append(states, cur)
	}
	set := func(t *boot.Task, id boot.StepID, st boot.StepStatus, done, total int64, at time.Duration) {
		s := t.Step(id)
		s.Status, s.BytesDone, s.BytesTotal, s.Updated = st, done, total, t0.Add(at)
	}
	next(func(t *boot.Task) { t.Status = boot.StatusDoing; set(t, boot.StepDownload, boot.StepDoing, 0, gib, 0) })
	next(func(t *boot.Task) { set(t, boot.StepDownload, boot.StepDoing, 300*mib, gib, 3*time.Second) })
	next(func(t *boot.Task) { set(t, boot.StepDownload, boot.StepDoing, 300*mib, gib, 3*time.Second) }) // nothing new
	next(func(t *boot.Task) { set(t, boot.StepDownload, boot.StepDoing, 700*mib, gib, 7*time.Second) })
	next(func(t *boot.Task) {
		set(t, boot.StepDownload, boot.StepDone, gib, gib, 10*time.Second)
		set(t, boot.StepCheck, boot.StepDoing, 0, 0, 10*time.Second)
	})
	if final == boot.StatusCustomerError {
		next(func(t *boot.Task) {
			msg := "Bad sha256 for downloaded file, got: 00ff while expecting 11ee."
			set(t, boot.StepCheck, boot.StepError, 0, 0, 12*time.Second)
			t.Step(boot.StepCheck).Error = msg
			t.Status, t.Message = boot.StatusCustomerError, msg
		})
		return states
	}
	next(func(t *boot.Task) {
		set(t, boot.StepCheck, boot.StepDone, 0, 0, 12*time.Second)
		set(t, boot.StepWrite, boot.StepDoing, 0, 4*gib, 12*time.Second)
	})
	next(func(t *boot.Task) { set(t, boot.StepWrite, boot.StepDoing, 2*gib+mib, 4*gib, 22*time.Second) })
	next(func(t *boot.Task) {
		set(t, boot.StepWrite, boot.StepDone, 4*gib, 4*gib, 32*time.Second)
		for _, id := range []boot.StepID{boot.StepGPT, boot.StepConfigDrive, boot.StepBootSetup} {
			set(t, id, boot.StepDone, 0, 0, 33*time.Second)
		}
		set(t, boot.StepReboot, boot.StepDoing, 0, 0, 33*time.Second)
	})
	next(func(t *boot.Task) { set(t, boot.StepReboot, boot.StepDone, 0, 0, 34*time.Second); t.Status = final })
	return states
}

// golden compares got with testdata/name, rewriting it with -update-client.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateClientGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-client to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func TestProgressRendering(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tty   bool
		final boot.Status
	}{
		{"plain_done", false, boot.StatusDone},
		{"plain_error", false, boot.StatusCustomerError},
		{"tty_done", true, boot.StatusDone},
		{"tty_error", true, boot.StatusCustomerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newProgress(&out, tc.tty, func() time.Time {
				t.Fatal("the local clock was used although every step has a server time")
				return time.Time{}
			})
			for _, s := range taskStates(tc.final) {
				p.update(s)
			}
			golden(t, "progress_"+tc.name+".golden", out.String())
		})
	}
}

func TestProgressFitsTheTerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, true, nil)
	p.cols = 40
	for _, s := range taskStates(boot.StatusCustomerError) {
		p.update(s)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		// Escape sequences take no cells.
		l = strings.NewReplacer("\x1b[2K", "", "\x1b[9F", "", "\x1b[10F", "", "\x1b[11F", "", "\x1b[12F", "").Replace(l)
		if n := len([]rune(l)); n >= 40 {
			t.Errorf("line %q is %d cells wide on a 40-column terminal", l, n)
		}
	}
}

func TestProgressWithoutServerTimes(t *testing.T) {
	// Older states without Updated times: the local clock gives the rate.
	clock := time.Unix(1000, 0)
	var out bytes.Buffer
	p := newProgress(&out, false, func() time.Time { return clock })
	for _, s := range taskStates(boot.StatusDone) {
		for j := range s.Steps {
			s.Steps[j].Updated = time.Time{}
		}
		clock = clock.Add(2500 * time.Millisecond) // download: doing in state 1, done in state 5
		p.update(s)
	}
	if !strings.Contains(out.String(), "[1/8] Downloading image: done (1.0 GiB in 10s, 102.4 MiB/s)") {
		t.Errorf("plain output lacks the download summary from the local clock:\n%s", out.String())
	}
}

func TestWait(t *testing.T) {
	for _, tc := range []struct {
		name    string
		final   boot.Status
		args    []string
		golden  string
		wantErr string
	}{
		{"done", boot.StatusDone, nil, "wait_done.golden", ""},
		{"customer error", boot.StatusCustomerError, nil, "wait_error.golden",
			"task 42 on rack1-07 ended failed (image or request): Bad sha256 for downloaded file, got: 00ff while expecting 11ee."},
		{"ovh error", boot.StatusOVHError, nil, "", "task 42 on rack1-07 ended failed (machine or byoi)"},
		{"cancelled", boot.StatusCancelled, nil, "", "task 42 on rack1-07 ended cancelled"},
		{"json", boot.StatusDone, []string{"-o", "json"}, "wait_json.golden", ""},
		{"bad progress mode", boot.StatusDone, []string{"--progress", "fancy"}, "", `--progress "fancy": use auto, bar or plain`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.machines["rack1-07"] = boot.Machine{Name: "rack1-07"}
			f.tasks[42] = taskStates(tc.final)
			out, err := f.run(t, append([]string{"wait", "rack1-07", "--interval", "1ms", "--progress", "plain"}, tc.args...)...)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("byoi wait = %v, want success", err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Fatalf("byoi wait = %v, want %q", err, tc.wantErr)
			}
			if tc.golden != "" {
				golden(t, tc.golden, out)
			}
		})
	}
}

func TestDeployWait(t *testing.T) {
	f := newFakeAPI(t)
	f.machines["rack1-07"] = boot.Machine{Name: "rack1-07"}
	f.nextID = 41
	f.tasks[42] = taskStates(boot.StatusDone) // served once deploy has created task 42
	out, err := f.run(t, "deploy", "rack1-07", "--image-url", "http://img/x.raw", "--image-type", "raw", "--wait", "--interval", "1ms", "--progress", "plain")
	if err != nil {
		t.Fatalf("byoi deploy --wait = %v", err)
	}
	want := "Task 42 created for rack1-07; waiting for the machine to network-boot.\n"
	wantTail, _ := os.ReadFile(filepath.Join("testdata", "wait_done.golden"))
	if out != want+string(wantTail) {
		t.Errorf("byoi deploy --wait printed:\n%s\nwant:\n%s%s", out, want, wantTail)
	}
}

// TestProgressPrintAbove: on a terminal, log lines go above the block:
// the block is cleared, the lines printed, and the block drawn again
// below them; plain output just prints them.
func TestProgressPrintAbove(t *testing.T) {
	task := boot.Task{ID: 1, Machine: "m", Status: boot.StatusDoing, Steps: []boot.Step{{ID: boot.StepBootloader, Comment: "Boot loader", Status: boot.StepDoing}}}
	var out bytes.Buffer
	p := newProgress(&out, true, nil)
	p.cols = 80
	p.update(task)
	out.Reset()
	p.printAbove("  | grub-install: done\n")
	p.update(task)
	want := "\x1b[2F\x1b[J" + "  | grub-install: done\n" + "\x1b[2KTask 1 on m: installing\n\x1b[2K  doing  Boot loader\n"
	if got := out.String(); got != want {
		t.Errorf("terminal output = %q, want %q", got, want)
	}
	out.Reset()
	p = newProgress(&out, false, nil)
	p.printAbove("  | x\n")
	p.printAbove("")
	if got := out.String(); got != "  | x\n" {
		t.Errorf("plain output = %q, want the line alone", got)
	}
}
