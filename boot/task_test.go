package boot

import (
	"slices"
	"testing"
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
	if task.Steps[slices.Index(Steps(), StepWrite)].BytesDone != 7 {
		t.Error("Step returned a copy, want a pointer into Steps")
	}
	if s := task.Step("nope"); s != nil {
		t.Errorf("Step(nope) = %+v, want nil", s)
	}
}
