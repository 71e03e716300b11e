package http

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/google/go-cmp/cmp"
)

func logBody(t *testing.T, lg agentapi.Log) string {
	t.Helper()
	b, err := json.Marshal(lg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func logLines(l boot.TaskLog) []string {
	out := []string{}
	for _, x := range l.Lines {
		out = append(out, x.Text)
	}
	return out
}

func TestTaskLogRoutes(t *testing.T) {
	e := newEnv(t)
	tok := bootInstaller(t, e, "web-1", "52:54:00:00:00:31", validReinstall)
	task := decode[agentapi.Task](t, agentDo(t, e, tok, agentapi.PathTask, "", 200))
	logPath := fmt.Sprintf("/api/v1/tasks/%d/log", task.ID)

	if l := decode[boot.TaskLog](t, e.api("GET", logPath, "", 200)); len(l.Lines) != 0 || l.Next != 0 || l.Status != boot.StatusDoing {
		t.Errorf("GET log before any output = %+v, want no line, next 0, doing", l)
	}
	first := agentapi.Log{Step: boot.StepConfigDrive, Seq: 0, Lines: []string{"a", "b", "c"}, Stream: "script"}
	agentDo(t, e, tok, agentapi.PathLog, logBody(t, first), 204)
	agentDo(t, e, tok, agentapi.PathLog, logBody(t, first), 204) // resent: no line twice
	agentDo(t, e, tok, agentapi.PathLog, logBody(t, agentapi.Log{Step: boot.StepConfigDrive, Seq: 2, Lines: []string{"c", "d"}, Stream: "script"}), 204)

	l := decode[boot.TaskLog](t, e.api("GET", logPath, "", 200))
	if diff := cmp.Diff([]string{"a", "b", "c", "d"}, logLines(l)); diff != "" || l.Next != 4 || l.More || l.TaskID != task.ID {
		t.Errorf("GET log = next %d, more %v, task %d; want 4, false, %d; lines (-want +got):\n%s", l.Next, l.More, l.TaskID, task.ID, diff)
	}
	if l.Lines[0].Step != boot.StepConfigDrive || l.Lines[0].Stream != "script" || l.Lines[3].Index != 3 {
		t.Errorf("GET log lines = %+v, want step, stream and index of each", l.Lines)
	}
	windows := []struct {
		query string
		want  []string
		next  int64
		more  bool
	}{
		{"?from=2", []string{"c", "d"}, 4, false},
		{"?from=4", []string{}, 4, false},
		{"?from=0&limit=3", []string{"a", "b", "c"}, 3, true},
		{"?tail=1", []string{"d"}, 4, false},
	}
	for _, w := range windows {
		l := decode[boot.TaskLog](t, e.api("GET", logPath+w.query, "", 200))
		if diff := cmp.Diff(w.want, logLines(l)); diff != "" || l.Next != w.next || l.More != w.more {
			t.Errorf("GET log%s = next %d, more %v, want %d, %v; lines (-want +got):\n%s", w.query, l.Next, l.More, w.next, w.more, diff)
		}
	}
	if l := decode[boot.TaskLog](t, e.api("GET", "/api/v1/machines/web-1/log?tail=2", "", 200)); !cmp.Equal(logLines(l), []string{"c", "d"}) || l.TaskID != task.ID {
		t.Errorf("GET machine log = task %d %q, want task %d's last two lines", l.TaskID, logLines(l), task.ID)
	}
	for _, q := range []string{"?from=-1", "?from=x", "?limit=0", "?limit=5001", "?tail=0", "?from=1&tail=1"} {
		if w := e.api("GET", logPath+q, "", 400); !strings.Contains(w.Body.String(), "from") && !strings.Contains(w.Body.String(), "limit") && !strings.Contains(w.Body.String(), "tail") {
			t.Errorf("GET log%s = %s, want a message naming the parameter", q, w.Body.String())
		}
	}
	e.api("GET", "/api/v1/tasks/999/log", "", 404)
	e.api("GET", "/api/v1/machines/nope/log", "", 404)
	e.addMachine(boot.Machine{Name: "idle", MACs: []string{"52:54:00:00:00:39"}})
	if w := e.api("GET", "/api/v1/machines/idle/log", "", 404); !strings.Contains(w.Body.String(), "no task yet") {
		t.Errorf("GET log of a machine without task = %s, want \"no task yet\"", w.Body.String())
	}

	// The agent's bounds: 400 with a clear message, nothing stored.
	bad := []struct {
		lg   agentapi.Log
		want string
	}{
		{agentapi.Log{Step: boot.StepConfigDrive, Seq: 4, Lines: make([]string, agentapi.MaxLogLines+1)}, "at most 256 per batch"},
		{agentapi.Log{Step: boot.StepConfigDrive, Seq: 4, Lines: []string{strings.Repeat("x", agentapi.MaxLogLine+1)}}, "at most 4096"},
		{agentapi.Log{Step: "nope", Seq: 4, Lines: []string{"x"}}, "unknown step"},
	}
	for _, b := range bad {
		w := agentDo(t, e, tok, agentapi.PathLog, logBody(t, b.lg), 400)
		if msg := decode[agentapi.Error](t, w).Message; !strings.Contains(msg, b.want) {
			t.Errorf("agent log %d lines = %q, want %q", len(b.lg.Lines), msg, b.want)
		}
	}
	agentDo(t, e, tok, agentapi.PathLog, `{"step":"configdrive","seq":4,"lines":["x"],"extra":1}`, 400)
	agentDo(t, e, "wrong", agentapi.PathLog, logBody(t, first), 401)
	if w := e.do("POST", agentapi.PathLog, "", logBody(t, first)); w.Code != 401 {
		t.Errorf("agent log without token = %d, want 401", w.Code)
	}

	// A full batch (256 lines of 4096 bytes: over 1 MiB of JSON) fits.
	full := make([]string, agentapi.MaxLogLines)
	for i := range full {
		full[i] = strings.Repeat(string(rune('a'+i%26)), agentapi.MaxLogLine)
	}
	body := logBody(t, agentapi.Log{Step: boot.StepConfigDrive, Seq: 4, Lines: full, Stream: "script"})
	if len(body) <= DefaultMaxBodyBytes {
		t.Fatalf("full batch is %d bytes, want over %d for this test", len(body), DefaultMaxBodyBytes)
	}
	agentDo(t, e, tok, agentapi.PathLog, body, 204)
	if l := decode[boot.TaskLog](t, e.api("GET", logPath+"?from=4", "", 200)); len(l.Lines) != agentapi.MaxLogLines || l.Lines[255].Text != full[255] {
		t.Errorf("GET log after a full batch = %d lines, want %d", len(l.Lines), agentapi.MaxLogLines)
	}

	agentDo(t, e, tok, agentapi.PathDone, `{"bootMode":"local"}`, 204)
	agentDo(t, e, tok, agentapi.PathLog, logBody(t, agentapi.Log{Step: boot.StepConfigDrive, Seq: 260, Lines: []string{"late"}}), 401)
	if l := decode[boot.TaskLog](t, e.api("GET", logPath+"?tail=1", "", 200)); l.Status != boot.StatusDone || l.Next != 260 || l.More {
		t.Errorf("GET log after done = %s, next %d, more %v; want done, 260, false (complete)", l.Status, l.Next, l.More)
	}
}
