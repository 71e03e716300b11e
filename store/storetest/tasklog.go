package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func lines(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", prefix, from+i)
	}
	return out
}

func texts(ls []boot.LogLine) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.Text)
	}
	return out
}

func testTaskLog(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	task := mustTask(t, s, "a", boot.StatusDoing)
	log, err := s.TaskLog(ctx, task.ID, 0, 0)
	if err != nil || len(log.Lines) != 0 || log.Next != 0 || log.Status != boot.StatusDoing {
		t.Errorf("TaskLog(no output) = %+v, %v, want no line, next 0, doing", log, err)
	}
	bl := boot.StepBootloader
	appends := []struct {
		b    boot.LogBatch
		want boot.LogAppend
	}{
		{boot.LogBatch{Step: bl, Stream: "script", Seq: 0, Lines: lines("l", 0, 3), Time: t0}, boot.LogAppend{Stored: 3}},
		// Sent again after a lost answer: nothing new.
		{boot.LogBatch{Step: bl, Stream: "script", Seq: 0, Lines: lines("l", 0, 3), Time: t0}, boot.LogAppend{Duplicate: 3}},
		// Overlapping: the first is held.
		{boot.LogBatch{Step: bl, Stream: "script", Seq: 2, Lines: lines("l", 2, 3), Time: t0}, boot.LogAppend{Stored: 2, Duplicate: 1}},
		// Another step counts its own output from 0.
		{boot.LogBatch{Step: boot.StepPartition, Stream: "storage", Seq: 0, Lines: lines("p", 0, 1), Time: t0}, boot.LogAppend{Stored: 1}},
		// A gap: lines 5 to 7 never came.
		{boot.LogBatch{Step: bl, Stream: "script", Seq: 8, Lines: lines("l", 8, 2), Time: t0}, boot.LogAppend{Stored: 2, Lost: 3}},
		// Lines of the gap coming late are below what is held: dropped.
		{boot.LogBatch{Step: bl, Stream: "script", Seq: 5, Lines: lines("l", 5, 3), Time: t0}, boot.LogAppend{Duplicate: 3}},
		{boot.LogBatch{Step: bl, Stream: "script", Seq: 10, Time: t0}, boot.LogAppend{}},
	}
	for i, a := range appends {
		got, err := s.AppendTaskLog(ctx, task.ID, a.b, nil)
		if err != nil {
			t.Fatalf("AppendTaskLog(#%d seq %d) = %v", i, a.b.Seq, err)
		}
		if diff := cmp.Diff(a.want, got); diff != "" {
			t.Errorf("AppendTaskLog(#%d seq %d) mismatch (-want +got):\n%s", i, a.b.Seq, diff)
		}
	}
	log, err = s.TaskLog(ctx, task.ID, 0, 0)
	if err != nil {
		t.Fatalf("TaskLog() = %v", err)
	}
	want := []boot.LogLine{
		{Index: 0, Step: bl, Stream: "script", Text: "l 0", Time: t0},
		{Index: 1, Step: bl, Stream: "script", Text: "l 1", Time: t0},
		{Index: 2, Step: bl, Stream: "script", Text: "l 2", Time: t0},
		{Index: 3, Step: bl, Stream: "script", Text: "l 3", Time: t0},
		{Index: 4, Step: bl, Stream: "script", Text: "l 4", Time: t0},
		{Index: 5, Step: boot.StepPartition, Stream: "storage", Text: "p 0", Time: t0},
		{Index: 6, Step: bl, Stream: "byoi", Text: "[3 lines of script output lost here: the installer dropped them]", Time: t0},
		{Index: 7, Step: bl, Stream: "script", Text: "l 8", Time: t0},
		{Index: 8, Step: bl, Stream: "script", Text: "l 9", Time: t0},
	}
	if diff := cmp.Diff(want, log.Lines); diff != "" {
		t.Errorf("TaskLog() lines mismatch (-want +got):\n%s", diff)
	}
	if log.Next != 9 || log.More || log.Lost != 3 || log.Dropped != 0 || log.First != 0 || log.TaskID != task.ID {
		t.Errorf("TaskLog() = next %d, more %v, lost %d, dropped %d, first %d, task %d; want 9, false, 3, 0, 0, %d",
			log.Next, log.More, log.Lost, log.Dropped, log.First, log.TaskID, task.ID)
	}
	// check refuses: nothing is stored, its error comes back as is.
	errNo := errors.New("no")
	if _, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: bl, Seq: 10, Lines: []string{"x"}}, func(boot.Task) error { return errNo }); !errors.Is(err, errNo) {
		t.Errorf("AppendTaskLog(check fails) = %v, want its error", err)
	}
	var seen boot.Task
	if _, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: bl, Seq: 10, Lines: []string{"l 10"}}, func(t boot.Task) error { seen = t; return nil }); err != nil || seen.ID != task.ID {
		t.Errorf("AppendTaskLog(check passes) = %v, check saw task %d; want nil, %d", err, seen.ID, task.ID)
	}
	if log, _ := s.TaskLog(ctx, task.ID, 9, 0); !cmp.Equal(texts(log.Lines), []string{"l 10"}) {
		t.Errorf("TaskLog(from 9) = %q, want only the line check let through", texts(log.Lines))
	}
	if _, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: bl, Seq: -1, Lines: []string{"x"}}, nil); err == nil {
		t.Errorf("AppendTaskLog(seq -1) = nil, want an error")
	}
	if _, err := s.AppendTaskLog(ctx, 999999, boot.LogBatch{Step: bl, Lines: []string{"x"}}, nil); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("AppendTaskLog(unknown task) = %v, want ErrNotFound", err)
	}
	if _, err := s.TaskLog(ctx, 999999, 0, 0); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("TaskLog(unknown task) = %v, want ErrNotFound", err)
	}
}

func testTaskLogWindow(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	task := mustTask(t, s, "a", boot.StatusDoing)
	if _, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: boot.StepBootloader, Lines: lines("l", 0, 10)}, nil); err != nil {
		t.Fatalf("AppendTaskLog() = %v", err)
	}
	tests := []struct {
		from  int64
		limit int
		want  []string
		next  int64
		more  bool
	}{
		{0, 0, lines("l", 0, 10), 10, false},
		{0, 4, lines("l", 0, 4), 4, true},
		{4, 4, lines("l", 4, 4), 8, true},
		{8, 4, lines("l", 8, 2), 10, false},
		{10, 4, []string{}, 10, false},
		{50, 0, []string{}, 10, false},
		{-3, 0, lines("l", 7, 3), 10, false},
		{-30, 2, lines("l", 0, 2), 2, true},
	}
	for _, tc := range tests {
		log, err := s.TaskLog(ctx, task.ID, tc.from, tc.limit)
		if err != nil {
			t.Fatalf("TaskLog(%d, %d) = %v", tc.from, tc.limit, err)
		}
		if diff := cmp.Diff(tc.want, texts(log.Lines)); diff != "" || log.Next != tc.next || log.More != tc.more {
			t.Errorf("TaskLog(%d, %d) = next %d, more %v, want %d, %v; lines (-want +got):\n%s", tc.from, tc.limit, log.Next, log.More, tc.next, tc.more, diff)
		}
	}
}

func testTaskLogDeleted(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	task := mustTask(t, s, "a", boot.StatusDoing)
	if _, err := s.AppendTaskLog(ctx, task.ID, boot.LogBatch{Step: boot.StepBootloader, Lines: lines("l", 0, 3)}, nil); err != nil {
		t.Fatalf("AppendTaskLog() = %v", err)
	}
	if _, err := s.UpdateTask(ctx, task.ID, func(t *boot.Task) error { return SetStatus(t, boot.StatusDone, t0) }); err != nil {
		t.Fatalf("UpdateTask(done) = %v", err)
	}
	if log, err := s.TaskLog(ctx, task.ID, 0, 0); err != nil || len(log.Lines) != 3 || log.Status != boot.StatusDone {
		t.Errorf("TaskLog(ended task) = %+v, %v; want its 3 lines, done", log, err)
	}
	if err := s.DeleteMachine(ctx, "a"); err != nil {
		t.Fatalf("DeleteMachine() = %v", err)
	}
	if _, err := s.TaskLog(ctx, task.ID, 0, 0); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("TaskLog(task of a deleted machine) = %v, want ErrNotFound", err)
	}
}

// testConcurrentTaskLog: two senders resend overlapping batches of the
// same output at once (as an installer whose answers get lost, twice);
// every line is stored once, in order.
func testConcurrentTaskLog(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	task := mustTask(t, s, "a", boot.StatusDoing)
	const total, step, width = 400, 5, 8
	out := lines("line", 0, total)
	// Round r: both senders send lines from about r*step on, at once,
	// each twice, their windows overlapping each other's and the previous
	// round's (a sender never skips ahead of what was delivered, as the
	// installer never does).
	for r := 0; r*step < total; r++ {
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				seq := max(r*step-g, 0)
				end := min(seq+width, total)
				b := boot.LogBatch{Step: boot.StepBootloader, Stream: "script", Seq: int64(seq), Lines: out[seq:end]}
				for range 2 {
					if _, err := s.AppendTaskLog(ctx, task.ID, b, nil); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("AppendTaskLog() = %v", err)
		}
	}
	log, err := s.TaskLog(ctx, task.ID, 0, 0)
	if err != nil {
		t.Fatalf("TaskLog() = %v", err)
	}
	if diff := cmp.Diff(out, texts(log.Lines)); diff != "" {
		t.Errorf("TaskLog() after concurrent resends mismatch (-want +got):\n%s", diff)
	}
	for i, l := range log.Lines {
		if l.Index != int64(i) {
			t.Fatalf("line %d has index %d, want %d", i, l.Index, i)
		}
	}
	if log.Lost != 0 || log.Next != total {
		t.Errorf("TaskLog() = lost %d, next %d; want 0, %d", log.Lost, log.Next, total)
	}
}
