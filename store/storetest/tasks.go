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

func testCreateTask(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	if _, err := s.CreateTask(ctx, newTask("missing", boot.StatusTodo)); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("CreateTask(unknown machine) = %v, want ErrNotFound", err)
	}
	mustMachine(t, s, "a")
	mustMachine(t, s, "b")
	in := newTask("a", boot.StatusTodo)
	first, err := s.CreateTask(ctx, in)
	if err != nil {
		t.Fatalf("CreateTask(a) = %v", err)
	}
	if first.ID <= 0 {
		t.Errorf("CreateTask(a).ID = %d, want > 0", first.ID)
	}
	want := in
	want.ID = first.ID
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("CreateTask(a) mismatch (-want +got):\n%s", diff)
	}
	got, err := s.Task(ctx, first.ID)
	if err != nil {
		t.Fatalf("Task(%d) = %v", first.ID, err)
	}
	// The store keeps secrets: the installer needs them.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Task(%d) mismatch (-want +got):\n%s", first.ID, diff)
	}
	second := mustTask(t, s, "b", boot.StatusTodo)
	if second.ID <= first.ID {
		t.Errorf("second task ID = %d, want > %d", second.ID, first.ID)
	}
	active, err := s.ActiveTask(ctx, "a")
	if err != nil || active.ID != first.ID {
		t.Errorf("ActiveTask(a) = %d, %v, want %d", active.ID, err, first.ID)
	}
}

func testSecondActiveTask(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	first := mustTask(t, s, "a", boot.StatusTodo)
	for _, st := range []boot.Status{boot.StatusInit, boot.StatusTodo, boot.StatusDoing} {
		if _, err := s.CreateTask(ctx, newTask("a", st)); !errors.Is(err, boot.ErrConflict) {
			t.Errorf("CreateTask(a, %s) with an active task = %v, want ErrConflict", st, err)
		}
	}
	if _, err := s.UpdateTask(ctx, first.ID, func(t *boot.Task) error { return SetStatus(t, boot.StatusCustomerError, t0) }); err != nil {
		t.Fatalf("UpdateTask(customerError) = %v", err)
	}
	if _, err := s.ActiveTask(ctx, "a"); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("ActiveTask(a) after failure = %v, want ErrNotFound", err)
	}
	next := mustTask(t, s, "a", boot.StatusTodo)
	third := mustTask(t, s, "a", boot.StatusDone) // a finished record does not hold the machine
	ts, err := s.Tasks(ctx, "a")
	if err != nil {
		t.Fatalf("Tasks(a) = %v", err)
	}
	var ids []int64
	for _, task := range ts {
		ids = append(ids, task.ID)
	}
	if diff := cmp.Diff([]int64{third.ID, next.ID, first.ID}, ids); diff != "" {
		t.Errorf("Tasks(a) IDs, newest first, mismatch (-want +got):\n%s", diff)
	}
	if active, err := s.ActiveTask(ctx, "a"); err != nil || active.ID != next.ID {
		t.Errorf("ActiveTask(a) = %d, %v, want %d", active.ID, err, next.ID)
	}
}

func testUpdateTask(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	task := mustTask(t, s, "a", boot.StatusTodo)
	got, err := s.UpdateTask(ctx, task.ID, func(t *boot.Task) error {
		t.Step(boot.StepDownload).Status = boot.StepDoing
		t.Step(boot.StepDownload).BytesDone = 42
		return SetStatus(t, boot.StatusDoing, t0)
	})
	if err != nil {
		t.Fatalf("UpdateTask(doing) = %v", err)
	}
	if got.Status != boot.StatusDoing || !got.StartDate.Equal(t0) || got.Step(boot.StepDownload).BytesDone != 42 {
		t.Errorf("UpdateTask(doing) = %+v, want doing since t0 with 42 bytes", got)
	}
	stored, _ := s.Task(ctx, task.ID)
	if diff := cmp.Diff(got, stored); diff != "" {
		t.Errorf("Task() after update mismatch (-want +got):\n%s", diff)
	}
	bad := []struct {
		name string
		fn   func(*boot.Task) error
		want error
	}{
		{"back to todo", func(t *boot.Task) error { t.Status = boot.StatusTodo; return nil }, boot.ErrConflict},
		{"change machine", func(t *boot.Task) error { t.Machine = "b"; return nil }, nil},
		{"change ID", func(t *boot.Task) error { t.ID++; return nil }, nil},
		{"fn fails", func(*boot.Task) error { return errSentinel }, errSentinel},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.UpdateTask(ctx, task.ID, tc.fn)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("UpdateTask(%s) = %v, want error %v", tc.name, err, tc.want)
			}
		})
	}
	after, _ := s.Task(ctx, task.ID)
	if diff := cmp.Diff(got, after); diff != "" {
		t.Errorf("Task() after refused updates changed (-want +got):\n%s", diff)
	}
	if _, err := s.UpdateTask(ctx, task.ID+100, func(*boot.Task) error { return nil }); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("UpdateTask(missing) = %v, want ErrNotFound", err)
	}
}

var errSentinel = errors.New("sentinel")

func testTokenIndex(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	mustMachine(t, s, "b")
	ta := mustTask(t, s, "a", boot.StatusTodo)
	tb := mustTask(t, s, "b", boot.StatusTodo)
	setHash := func(id int64, h string) error {
		_, err := s.UpdateTask(ctx, id, func(t *boot.Task) error { t.TokenHash = h; return nil })
		return err
	}
	if err := setHash(ta.ID, "hash-a1"); err != nil {
		t.Fatalf("UpdateTask(set hash) = %v", err)
	}
	if got, err := s.TaskByTokenHash(ctx, "hash-a1"); err != nil || got.ID != ta.ID {
		t.Errorf("TaskByTokenHash(hash-a1) = %d, %v, want %d", got.ID, err, ta.ID)
	}
	if err := setHash(tb.ID, "hash-a1"); !errors.Is(err, boot.ErrConflict) {
		t.Errorf("UpdateTask(reuse a's hash for b) = %v, want ErrConflict", err)
	}
	if err := setHash(ta.ID, "hash-a2"); err != nil {
		t.Fatalf("UpdateTask(new hash) = %v", err)
	}
	if _, err := s.TaskByTokenHash(ctx, "hash-a1"); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("TaskByTokenHash(replaced hash) = %v, want ErrNotFound", err)
	}
	if got, err := s.TaskByTokenHash(ctx, "hash-a2"); err != nil || got.ID != ta.ID {
		t.Errorf("TaskByTokenHash(hash-a2) = %d, %v, want %d", got.ID, err, ta.ID)
	}
	if _, err := s.TaskByTokenHash(ctx, ""); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("TaskByTokenHash(empty) = %v, want ErrNotFound", err)
	}
	if err := setHash(ta.ID, ""); err != nil {
		t.Fatalf("UpdateTask(clear hash) = %v", err)
	}
	if _, err := s.TaskByTokenHash(ctx, "hash-a2"); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("TaskByTokenHash(cleared hash) = %v, want ErrNotFound", err)
	}
	for _, h := range []string{"hash-a2", "hash-a1", ""} {
		if _, _, err := s.TokenTask(ctx, h); !errors.Is(err, boot.ErrNotFound) {
			t.Errorf("TokenTask(%q) = %v, want ErrNotFound", h, err)
		}
	}

	// TokenTask's active flag follows the task's status, whichever call
	// changes it, and survives the token's task ending.
	checkToken := func(step string, wantActive bool) {
		t.Helper()
		if id, active, err := s.TokenTask(ctx, "hash-b"); err != nil || id != tb.ID || active != wantActive {
			t.Errorf("%s: TokenTask(hash-b) = %d, %v, %v; want %d, %v", step, id, active, err, tb.ID, wantActive)
		}
	}
	if err := setHash(tb.ID, "hash-b"); err != nil {
		t.Fatal(err)
	}
	checkToken("todo", true)
	setStatus := func(st boot.Status) {
		t.Helper()
		if _, err := s.UpdateTask(ctx, tb.ID, func(t *boot.Task) error { t.Status = st; return nil }); err != nil {
			t.Fatalf("UpdateTask(%s) = %v", st, err)
		}
	}
	setStatus(boot.StatusDoing)
	checkToken("doing", true)
	if _, _, err := s.UpdateTaskMachine(ctx, tb.ID, func(t *boot.Task, _ *boot.Machine) error { t.Status = boot.StatusDone; return nil }); err != nil {
		t.Fatal(err)
	}
	checkToken("done", false)
	if got, err := s.TaskByTokenHash(ctx, "hash-b"); err != nil || got.ID != tb.ID || got.Status != boot.StatusDone {
		t.Errorf("TaskByTokenHash(hash-b) after done = %+v, %v; want the done task", got, err)
	}
	newC := newTask("b", boot.StatusTodo)
	newC.TokenHash = "hash-c"
	tc, err := s.CreateTask(ctx, newC)
	if err != nil {
		t.Fatal(err)
	}
	if id, active, err := s.TokenTask(ctx, "hash-c"); err != nil || id != tc.ID || !active {
		t.Errorf("TokenTask(hash of a created task) = %d, %v, %v; want %d, true", id, active, err, tc.ID)
	}
	for _, st := range []boot.Status{boot.StatusDoing, boot.StatusDone} {
		if _, err := s.UpdateTask(ctx, tc.ID, func(t *boot.Task) error { t.Status = st; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMachine(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"hash-b", "hash-c"} {
		if _, _, err := s.TokenTask(ctx, h); !errors.Is(err, boot.ErrNotFound) {
			t.Errorf("TokenTask(%q) after the machine was deleted = %v, want ErrNotFound", h, err)
		}
	}
}

func testConcurrentUpdateTask(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a")
	task := mustTask(t, s, "a", boot.StatusDoing)
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := s.UpdateTask(ctx, task.ID, func(t *boot.Task) error {
					t.Step(boot.StepWrite).BytesDone++
					t.Comment = fmt.Sprintf("worker %d update %d", w, i)
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("UpdateTask() concurrently = %v", err)
	}
	got, err := s.Task(ctx, task.ID)
	if err != nil {
		t.Fatalf("Task() = %v", err)
	}
	if n := got.Step(boot.StepWrite).BytesDone; n != workers*each {
		t.Errorf("BytesDone after %d concurrent increments = %d, want %d", workers*each, n, workers*each)
	}
}

func testUpdateTaskMachine(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a", "52:54:00:00:00:0a")
	mustMachine(t, s, "b")
	task := mustTask(t, s, "a", boot.StatusTodo)
	gotT, gotM, err := s.UpdateTaskMachine(ctx, task.ID, func(t *boot.Task, m *boot.Machine) error {
		m.BootMode, m.EFIBootloaderPath = boot.BootModeLocal, `\efi\debian\grubx64.efi`
		t.TokenHash = "abc"
		return nil
	})
	if err != nil || gotM.BootMode != boot.BootModeLocal || gotT.TokenHash != "abc" {
		t.Fatalf("UpdateTaskMachine() = %+v, %+v, %v; want both changed", gotT, gotM, err)
	}
	if m, _ := s.Machine(ctx, "a"); m.BootMode != boot.BootModeLocal {
		t.Errorf("Machine(a) after UpdateTaskMachine = boot mode %q, want local", m.BootMode)
	}
	if byTok, err := s.TaskByTokenHash(ctx, "abc"); err != nil || byTok.ID != task.ID {
		t.Errorf("TaskByTokenHash(abc) = %d, %v; want task %d", byTok.ID, err, task.ID)
	}
	bad := []struct {
		name string
		fn   func(*boot.Task, *boot.Machine) error
	}{
		{"rename machine", func(_ *boot.Task, m *boot.Machine) error { m.Name = "c"; return nil }},
		{"change MACs", func(_ *boot.Task, m *boot.Machine) error { m.MACs = nil; return nil }},
		{"invalid machine", func(_ *boot.Task, m *boot.Machine) error { m.EFIBootloaderPath = "no-slash"; return nil }},
		{"task back to init", func(t *boot.Task, _ *boot.Machine) error { t.Status = boot.StatusInit; return nil }},
		{"fn fails", func(*boot.Task, *boot.Machine) error { return errSentinel }},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.UpdateTaskMachine(ctx, task.ID, func(t *boot.Task, m *boot.Machine) error {
				t.Message = "must not be stored"
				return tc.fn(t, m)
			})
			if err == nil {
				t.Errorf("UpdateTaskMachine(%s) = nil, want an error", tc.name)
			}
		})
	}
	if after, _ := s.Task(ctx, task.ID); after.Message != "" {
		t.Errorf("Task() after refused updates has message %q, want nothing stored", after.Message)
	}
	if m, _ := s.Machine(ctx, "a"); m.Name != "a" || len(m.MACs) != 1 || m.EFIBootloaderPath != `\efi\debian\grubx64.efi` {
		t.Errorf("Machine(a) after refused updates = %+v, want unchanged", m)
	}
}
