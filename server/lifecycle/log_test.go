package lifecycle_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/google/go-cmp/cmp"
)

// started creates a task on a new machine, boots it and starts its
// installer; it returns the task and the token's hash.
func (f *fixture) started(name, mac string) (boot.Task, string) {
	f.t.Helper()
	f.machine(name, mac)
	task := f.create(name)
	hash := lifecycle.HashToken(f.boot(mac).Token)
	if _, _, err := f.lc.Start(context.Background(), hash); err != nil {
		f.t.Fatalf("Start() = %v", err)
	}
	return task, hash
}

func (f *fixture) logTexts(id int64) []string {
	f.t.Helper()
	log, err := f.st.TaskLog(context.Background(), id, 0, 0)
	if err != nil {
		f.t.Fatalf("TaskLog(%d) = %v", id, err)
	}
	out := []string{}
	for _, l := range log.Lines {
		out = append(out, l.Text)
	}
	return out
}

func TestAppendLog(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const mac = "52:54:00:00:00:21"
	f.machine("web-1", mac)
	task := f.create("web-1")
	tok := f.boot(mac).Token
	step := boot.StepConfigDrive
	batch := agentapi.Log{Step: step, Seq: 0, Lines: []string{"one", "two"}, Stream: "script"}
	if _, err := f.lc.AppendLog(ctx, lifecycle.HashToken(tok), batch); lifecycle.KindOf(err) != lifecycle.KindBadReport {
		t.Errorf("AppendLog(task not started) = %v, want KindBadReport", err)
	}
	if _, _, err := f.lc.Start(ctx, lifecycle.HashToken(tok)); err != nil {
		t.Fatal(err)
	}
	hash := lifecycle.HashToken(tok)
	if res, err := f.lc.AppendLog(ctx, hash, batch); err != nil || res.Stored != 2 {
		t.Fatalf("AppendLog() = %+v, %v; want 2 stored", res, err)
	}
	if res, err := f.lc.AppendLog(ctx, hash, batch); err != nil || res.Stored != 0 || res.Duplicate != 2 {
		t.Errorf("AppendLog(resent) = %+v, %v; want 2 duplicates", res, err)
	}
	bad := []struct {
		name string
		lg   agentapi.Log
		want string
	}{
		{"too many lines", agentapi.Log{Step: step, Seq: 2, Lines: make([]string, agentapi.MaxLogLines+1)}, "at most 256 per batch"},
		{"long line", agentapi.Log{Step: step, Seq: 2, Lines: []string{"ok", strings.Repeat("x", agentapi.MaxLogLine+1)}}, "log line 3 is 4097 bytes long: at most 4096"},
		{"negative seq", agentapi.Log{Step: step, Seq: -1, Lines: []string{"x"}}, "negative seq"},
		{"unknown step", agentapi.Log{Step: "nope", Seq: 0, Lines: []string{"x"}}, `unknown step "nope"`},
		{"no step", agentapi.Log{Seq: 0, Lines: []string{"x"}}, "needs its step"},
		{"long stream", agentapi.Log{Step: step, Stream: strings.Repeat("s", 129), Lines: []string{"x"}}, "stream name"},
	}
	for _, tc := range bad {
		_, err := f.lc.AppendLog(ctx, hash, tc.lg)
		if lifecycle.KindOf(err) != lifecycle.KindBadReport || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AppendLog(%s) = %v, want KindBadReport with %q", tc.name, err, tc.want)
		}
	}
	// Exactly at the bounds is fine.
	full := make([]string, agentapi.MaxLogLines)
	full[0] = strings.Repeat("y", agentapi.MaxLogLine)
	if res, err := f.lc.AppendLog(ctx, hash, agentapi.Log{Step: step, Seq: 2, Lines: full}); err != nil || res.Stored != agentapi.MaxLogLines {
		t.Errorf("AppendLog(%d lines, one of %d bytes) = %+v, %v; want all stored", agentapi.MaxLogLines, agentapi.MaxLogLine, res, err)
	}
	if _, err := f.lc.AppendLog(ctx, lifecycle.HashToken("not-a-token"), batch); lifecycle.KindOf(err) != lifecycle.KindToken {
		t.Errorf("AppendLog(unknown token) = %v, want KindToken", err)
	}
	if _, err := f.lc.AppendLog(ctx, "", batch); lifecycle.KindOf(err) != lifecycle.KindToken {
		t.Errorf("AppendLog(no token) = %v, want KindToken", err)
	}
	if got := f.logTexts(task.ID); len(got) != 2+agentapi.MaxLogLines || got[0] != "one" || got[1] != "two" {
		t.Errorf("log = %d lines starting %q, want 2+%d, refused batches stored nothing", len(got), got[:2], agentapi.MaxLogLines)
	}
	// The step comment is the installer's (its Progress after a batch):
	// appending does not touch the task.
	before := f.task(task.ID)
	if _, err := f.lc.AppendLog(ctx, hash, agentapi.Log{Step: step, Seq: 2 + agentapi.MaxLogLines, Lines: []string{"last"}, Stream: "script"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, f.task(task.ID)); diff != "" {
		t.Errorf("task changed by AppendLog (-before +after):\n%s", diff)
	}
	if _, err := f.lc.Fail(ctx, hash, agentapi.Failure{Step: step, Class: agentapi.ClassCustomer, Message: "script: exit status 1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.lc.AppendLog(ctx, hash, agentapi.Log{Step: step, Seq: 3 + agentapi.MaxLogLines, Lines: []string{"late"}}); lifecycle.KindOf(err) != lifecycle.KindToken {
		t.Errorf("AppendLog(task ended) = %v, want KindToken", err)
	}
	if got := f.logTexts(task.ID); got[len(got)-1] != "last" {
		t.Errorf("last line = %q, want the one before the task ended", got[len(got)-1])
	}
}

// TestAppendLogResentConcurrently: an installer's batches sent twice at
// once (two goroutines, overlapping windows) are stored exactly once, in
// order, through the token-checked path.
func TestAppendLogResentConcurrently(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	task, hash := f.started("web-1", "52:54:00:00:00:22")
	const total, step, width = 300, 6, 10
	var want []string
	for i := range total {
		want = append(want, fmt.Sprintf("out %d", i))
	}
	for r := 0; r*step < total; r++ {
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				seq := max(r*step-2*g, 0)
				lg := agentapi.Log{Step: boot.StepConfigDrive, Seq: int64(seq), Lines: want[seq:min(seq+width, total)], Stream: "script"}
				if _, err := f.lc.AppendLog(ctx, hash, lg); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("AppendLog() = %v", err)
		}
	}
	if diff := cmp.Diff(want, f.logTexts(task.ID)); diff != "" {
		t.Errorf("log after concurrent resends mismatch (-want +got):\n%s", diff)
	}
}
