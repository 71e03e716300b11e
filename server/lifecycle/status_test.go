package lifecycle

import (
	"errors"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func TestSetStatus(t *testing.T) {
	t0 := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)

	task := &boot.Task{ID: 1, Status: boot.StatusTodo, Steps: boot.NewSteps(), Created: t0, StartDate: t0, LastUpdate: t0}
	if err := setStatus(task, boot.StatusDoing, t1); err != nil {
		t.Fatalf("todo → doing = %v", err)
	}
	if !task.InstallerStarted.Equal(t1) || !task.StartDate.Equal(t0) || !task.LastUpdate.Equal(t1) || !task.DoneDate.IsZero() {
		t.Errorf("after doing: installer started %v start %v update %v done %v, want %v %v %v zero", task.InstallerStarted, task.StartDate, task.LastUpdate, task.DoneDate, t1, t0, t1)
	}
	task.Step(boot.StepDownload).Status = boot.StepDone
	task.Step(boot.StepCheck).Status = boot.StepDoing
	if err := setStatus(task, boot.StatusDoing, t2); err != nil {
		t.Fatalf("doing → doing = %v", err)
	}
	if !task.InstallerStarted.Equal(t1) {
		t.Errorf("second doing moved InstallerStarted to %v, want %v", task.InstallerStarted, t1)
	}
	if err := setStatus(task, boot.StatusCustomerError, t2); err != nil {
		t.Fatalf("doing → customerError = %v", err)
	}
	if !task.DoneDate.Equal(t2) {
		t.Errorf("DoneDate = %v, want %v", task.DoneDate, t2)
	}
	var got []boot.StepStatus
	for _, s := range task.Steps {
		got = append(got, s.Status)
	}
	want := []boot.StepStatus{boot.StepDone, boot.StepError, boot.StepTodo, boot.StepTodo, boot.StepTodo, boot.StepTodo, boot.StepTodo, boot.StepTodo}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps after a failure (-want +got):\n%s", diff)
	}

	before := *task
	err := setStatus(task, boot.StatusTodo, t2.Add(time.Hour))
	if !errors.Is(err, boot.ErrConflict) {
		t.Errorf("customerError → todo = %v, want boot.ErrConflict", err)
	}
	if task.Status != before.Status || !task.LastUpdate.Equal(before.LastUpdate) {
		t.Errorf("a refused transition changed the task: %s %v", task.Status, task.LastUpdate)
	}

	ok := &boot.Task{ID: 2, Status: boot.StatusDoing, Steps: boot.NewSteps()}
	ok.Steps[6].Status = boot.StepDoing
	if err := setStatus(ok, boot.StatusDone, t2); err != nil {
		t.Fatal(err)
	}
	if ok.Steps[6].Status != boot.StepDoing {
		t.Errorf("done marked step %s as %s, want it left alone", ok.Steps[6].ID, ok.Steps[6].Status)
	}
	if !ok.InstallerStarted.IsZero() {
		t.Errorf("doing → done set InstallerStarted %v, want it left alone", ok.InstallerStarted)
	}
}
