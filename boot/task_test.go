package boot

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var allStatuses = []Status{StatusInit, StatusTodo, StatusDoing, StatusDone, StatusCancelled, StatusCustomerError, StatusOVHError}

func TestCanTransition(t *testing.T) {
	allowed := map[Status][]Status{
		StatusInit:  {StatusTodo, StatusDone, StatusCancelled, StatusCustomerError, StatusOVHError},
		StatusTodo:  {StatusDoing, StatusDone, StatusCancelled, StatusCustomerError, StatusOVHError},
		StatusDoing: {StatusDoing, StatusDone, StatusCancelled, StatusCustomerError, StatusOVHError},
	}
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			want := false
			for _, a := range allowed[from] {
				if a == to {
					want = true
				}
			}
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s.CanTransition(%s) = %v, want %v", from, to, got, want)
			}
		}
	}
	if StatusTodo.CanTransition("bogus") {
		t.Error(`todo.CanTransition("bogus") = true, want false`)
	}
}

func TestActiveFinal(t *testing.T) {
	active := map[Status]bool{StatusInit: true, StatusTodo: true, StatusDoing: true}
	for _, s := range allStatuses {
		if got := s.Active(); got != active[s] {
			t.Errorf("%s.Active() = %v, want %v", s, got, active[s])
		}
		if got := s.Final(); got != !active[s] {
			t.Errorf("%s.Final() = %v, want %v", s, got, !active[s])
		}
	}
	if Status("").Active() || Status("").Final() {
		t.Error(`Status("") is active or final, want neither`)
	}
}

func TestSetStatus(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)

	task := &Task{ID: 1, Status: StatusTodo, Steps: NewSteps(), Created: t0, LastUpdate: t0}
	if err := task.SetStatus(StatusDoing, t1); err != nil {
		t.Fatalf("todo → doing = %v", err)
	}
	if !task.StartDate.Equal(t1) || !task.LastUpdate.Equal(t1) || !task.DoneDate.IsZero() {
		t.Errorf("after doing: start %v update %v done %v, want %v %v zero", task.StartDate, task.LastUpdate, task.DoneDate, t1, t1)
	}
	task.Step(StepDownload).Status = StepDone
	task.Step(StepCheck).Status = StepDoing
	if err := task.SetStatus(StatusDoing, t2); err != nil {
		t.Fatalf("doing → doing = %v", err)
	}
	if !task.StartDate.Equal(t1) {
		t.Errorf("second doing moved StartDate to %v, want %v", task.StartDate, t1)
	}
	if err := task.SetStatus(StatusCustomerError, t2); err != nil {
		t.Fatalf("doing → customerError = %v", err)
	}
	if !task.DoneDate.Equal(t2) {
		t.Errorf("DoneDate = %v, want %v", task.DoneDate, t2)
	}
	var got []StepStatus
	for _, s := range task.Steps {
		got = append(got, s.Status)
	}
	want := []StepStatus{StepDone, StepError, StepTodo, StepTodo, StepTodo, StepTodo, StepTodo}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps after a failure (-want +got):\n%s", diff)
	}

	before := *task
	err := task.SetStatus(StatusTodo, t2.Add(time.Hour))
	if !errors.Is(err, ErrConflict) {
		t.Errorf("customerError → todo = %v, want ErrConflict", err)
	}
	if task.Status != before.Status || !task.LastUpdate.Equal(before.LastUpdate) {
		t.Errorf("a refused transition changed the task: %s %v", task.Status, task.LastUpdate)
	}

	ok := &Task{ID: 2, Status: StatusDoing, Steps: NewSteps()}
	ok.Steps[6].Status = StepDoing
	if err := ok.SetStatus(StatusDone, t2); err != nil {
		t.Fatal(err)
	}
	if ok.Steps[6].Status != StepDoing {
		t.Errorf("done marked step %s as %s, want it left alone", ok.Steps[6].ID, ok.Steps[6].Status)
	}
	if !ok.StartDate.IsZero() {
		t.Errorf("doing → done set StartDate %v, want it left alone", ok.StartDate)
	}
}

func TestSteps(t *testing.T) {
	steps := NewSteps()
	if len(steps) != len(Steps()) {
		t.Fatalf("NewSteps() has %d steps, want %d", len(steps), len(Steps()))
	}
	for i, s := range steps {
		if s.ID != Steps()[i] || s.Status != StepTodo || s.Comment == "" || s.Comment != StepComments[s.ID] {
			t.Errorf("NewSteps()[%d] = %+v, want ID %s, todo, its comment", i, s, Steps()[i])
		}
	}
	task := &Task{Steps: steps}
	if s := task.Step(StepWrite); s == nil || s.ID != StepWrite {
		t.Errorf("Step(write) = %v, want the write step", s)
	}
	task.Step(StepWrite).BytesDone = 7
	if task.Steps[2].BytesDone != 7 {
		t.Error("Step returned a copy, want a pointer into Steps")
	}
	if s := task.Step("nope"); s != nil {
		t.Errorf("Step(nope) = %+v, want nil", s)
	}
}
