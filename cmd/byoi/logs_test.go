package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
)

// startAgent creates a task on machine and boots its installer through
// the real lifecycle; it returns the task and the installer's token.
func startAgent(t *testing.T, r *realServer, machine, mac string) (boot.Task, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.run(t, "machines", "add", machine, "--mac", mac); err != nil {
		t.Fatal(err)
	}
	lc := lifecycle.New(r.st, lifecycle.Config{})
	task, err := lc.Create(ctx, machine, boot.InstallSpec{ImageURL: "http://198.51.100.9/d.raw", ImageType: "raw"}, lifecycle.FunctionReinstall)
	if err != nil {
		t.Fatal(err)
	}
	res, err := lc.Boot(ctx, lifecycle.BootRequest{MAC: mac, Client: "efi/x86_64"})
	if err != nil || res.Token == "" {
		t.Fatalf("Boot = %+v, %v; want an installer token", res, err)
	}
	agentPost(t, r, res.Token, http.MethodGet, agentapi.PathTask, nil)
	return task, res.Token
}

// agentPost calls the agent API of the real server as the installer does.
func agentPost(t *testing.T, r *realServer, token, method, path string, body any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, r.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("agent %s %s = %d", method, path, resp.StatusCode)
	}
}

func TestLogs(t *testing.T) {
	r := newRealServer(t)
	task, tok := startAgent(t, r, "rack1-01", "52:54:00:00:00:01")
	for _, lg := range []agentapi.Log{
		{Step: boot.StepGPT, Seq: 0, Lines: []string{"mkfs: done"}, Stream: "storage"},
		{Step: boot.StepConfigDrive, Seq: 0, Lines: []string{"Installing for x86_64-efi platform.", "\x1b[31mred\x1b[0m\tand a tab"}, Stream: "make_image_bootable.sh"},
		{Step: boot.StepConfigDrive, Seq: 0, Lines: []string{"Installing for x86_64-efi platform.", "\x1b[31mred\x1b[0m\tand a tab"}, Stream: "make_image_bootable.sh"}, // resent
		{Step: boot.StepConfigDrive, Seq: 4, Lines: []string{"Installation finished. No error reported."}, Stream: "make_image_bootable.sh"},
	} {
		agentPost(t, r, tok, http.MethodPost, agentapi.PathLog, lg)
	}
	want := "==> storage (gpt) <==\n" +
		"mkfs: done\n" +
		"==> make_image_bootable.sh (configdrive) <==\n" +
		"Installing for x86_64-efi platform.\n" +
		"\uFFFD[31mred\uFFFD[0m\tand a tab\n" +
		"[2 lines of make_image_bootable.sh output lost here: the installer dropped them]\n" +
		"Installation finished. No error reported.\n"
	out, err := r.run(t, "logs", "rack1-01")
	if err != nil || out != want {
		t.Errorf("logs rack1-01 = %v, output:\n%s\nwant:\n%s", err, out, want)
	}
	if out, err := r.run(t, "logs", "rack1-01", "--task", fmt.Sprint(task.ID)); err != nil || out != want {
		t.Errorf("logs --task %d = %v, output:\n%s\nwant the same", task.ID, err, out)
	}
	if out, err := r.run(t, "logs", "rack1-01", "--tail", "1"); err != nil || out != "==> make_image_bootable.sh (configdrive) <==\nInstallation finished. No error reported.\n" {
		t.Errorf("logs --tail 1 = %v, output:\n%s", err, out)
	}
	out, err = r.run(t, "logs", "rack1-01", "-o", "json")
	var first boot.LogLine
	if err != nil || strings.Count(out, "\n") != 5 || json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first) != nil || first.Text != "mkfs: done" || first.Step != boot.StepGPT {
		t.Errorf("logs -o json = %v, output:\n%s\nwant 5 JSON lines, the first mkfs's", err, out)
	}

	if _, err := r.run(t, "machines", "add", "rack1-02", "--mac", "52:54:00:00:00:02"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "rack1-02"}, `Machine "rack1-02" has no task yet`},
		{[]string{"logs", "rack1-02", "--task", fmt.Sprint(task.ID)}, fmt.Sprintf("task %d is not one of rack1-02's: it is rack1-01's", task.ID)},
		{[]string{"logs", "nope"}, "nope"},
		{[]string{"logs", "rack1-01", "--tail", "-1"}, "--tail -1: use 1 to 5000"},
		{[]string{"logs"}, "expected one argument, the machine name"},
	} {
		if _, err := r.run(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("byoi %s = %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestLogsFollow: --follow prints each line once as the installer sends
// it, until the task ends; it fails when the task failed.
func TestLogsFollow(t *testing.T) {
	r := newRealServer(t)
	for _, end := range []string{"done", "error"} {
		t.Run(end, func(t *testing.T) {
			name, mac := "m-"+end, map[string]string{"done": "52:54:00:00:01:01", "error": "52:54:00:00:01:02"}[end]
			_, tok := startAgent(t, r, name, mac)
			var out syncWriter
			out.w = &strings.Builder{}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			result := make(chan error, 1)
			go func() {
				result <- run(ctx, []string{"byoi", "logs", name, "--follow", "--interval", "20ms", "--server", r.url, "--token", r.token}, &out, &out)
			}()
			var sent []string
			for i := range 5 {
				batch := []string{fmt.Sprintf("line %d", 2*i), fmt.Sprintf("line %d", 2*i+1)}
				sent = append(sent, batch...)
				agentPost(t, r, tok, http.MethodPost, agentapi.PathLog, agentapi.Log{Step: boot.StepConfigDrive, Seq: int64(2 * i), Lines: batch, Stream: "script"})
				waitFor(t, func() bool { return strings.Contains(out.String(), batch[1]+"\n") })
			}
			select {
			case err := <-result:
				t.Fatalf("logs --follow ended before the task: %v", err)
			default:
			}
			if end == "done" {
				agentPost(t, r, tok, http.MethodPost, agentapi.PathDone, agentapi.Done{})
			} else {
				agentPost(t, r, tok, http.MethodPost, agentapi.PathError, agentapi.Failure{Step: boot.StepConfigDrive, Class: agentapi.ClassCustomer, Message: "script failed"})
			}
			var err error
			select {
			case err = <-result:
			case <-ctx.Done():
				t.Fatal("logs --follow did not end with the task")
			}
			if end == "done" && err != nil || end == "error" && (err == nil || !strings.Contains(err.Error(), "ended customerError")) {
				t.Errorf("logs --follow after the task ended %s = %v", end, err)
			}
			want := "==> script (configdrive) <==\n" + strings.Join(sent, "\n") + "\n"
			if got := out.String(); got != want {
				t.Errorf("logs --follow printed:\n%s\nwant every line once:\n%s", got, want)
			}
		})
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// TestWaitShowsLogs: byoi wait prints the installer's output as it comes,
// each line once, before the task's end; --logs=false hides it.
func TestWaitShowsLogs(t *testing.T) {
	r := newRealServer(t)
	_, tok := startAgent(t, r, "rack1-01", "52:54:00:00:00:01")
	var out syncWriter
	out.w = &strings.Builder{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	result := make(chan error, 1)
	go func() {
		result <- run(ctx, []string{"byoi", "wait", "rack1-01", "--progress", "plain", "--interval", "20ms", "--server", r.url, "--token", r.token}, &out, &out)
	}()
	agentPost(t, r, tok, http.MethodPost, agentapi.PathProgress, agentapi.Progress{Step: boot.StepConfigDrive, Status: boot.StepDoing})
	for i := range 3 {
		agentPost(t, r, tok, http.MethodPost, agentapi.PathLog, agentapi.Log{Step: boot.StepConfigDrive, Seq: int64(i), Lines: []string{fmt.Sprintf("out %d", i)}, Stream: "script"})
		waitFor(t, func() bool { return strings.Contains(out.String(), fmt.Sprintf("  | out %d\n", i)) })
	}
	agentPost(t, r, tok, http.MethodPost, agentapi.PathLog, agentapi.Log{Step: boot.StepConfigDrive, Seq: 3, Lines: []string{"out 3"}, Stream: "script"})
	agentPost(t, r, tok, http.MethodPost, agentapi.PathDone, agentapi.Done{})
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("wait = %v", err)
		}
	case <-ctx.Done():
		t.Fatal("wait did not end with the task")
	}
	got := out.String()
	want := "  | ==> script (configdrive) <==\n  | out 0\n  | out 1\n  | out 2\n  | out 3\n"
	var logLines []string
	for _, l := range strings.SplitAfter(got, "\n") {
		if strings.HasPrefix(l, "  | ") {
			logLines = append(logLines, l)
		}
	}
	if strings.Join(logLines, "") != want {
		t.Errorf("wait printed the log as:\n%s\nwant each line once:\n%s\nwhole output:\n%s", strings.Join(logLines, ""), want, got)
	}
	if i, j := strings.Index(got, "  | out 3"), strings.Index(got, "Task 1: done"); i < 0 || j < 0 || i > j {
		t.Errorf("wait output: the last line (at %d) must come before the end (at %d):\n%s", i, j, got)
	}
	quiet, err := r.run(t, "wait", "rack1-01", "--progress", "plain", "--logs=false")
	if err != nil || strings.Contains(quiet, "  | ") {
		t.Errorf("wait --logs=false = %v, output:\n%s\nwant no log line", err, quiet)
	}
	if full, err := r.run(t, "wait", "rack1-01", "--progress", "plain"); err != nil || !strings.Contains(full, want) {
		t.Errorf("wait on an ended task = %v, output:\n%s\nwant its whole log", err, full)
	}
}
