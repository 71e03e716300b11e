package web

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func taskWith(status boot.Status, steps ...boot.StepStatus) boot.Task {
	t := boot.Task{ID: 7, Status: status, Steps: boot.NewSteps(), Created: t0}
	for i, s := range steps {
		t.Steps[i].Status = s
	}
	return t
}

func TestSummarizeTask(t *testing.T) {
	writing := taskWith(boot.StatusDoing, boot.StepDone, boot.StepDone, boot.StepDone, boot.StepDoing)
	writing.Steps[3].BytesDone, writing.Steps[3].BytesTotal = 50, 100
	failed := taskWith(boot.StatusCustomerError, boot.StepError)
	failed.Message = "Could not download image"
	for _, tc := range []struct {
		name string
		task boot.Task
		want TaskSummary
	}{
		{"todo", taskWith(boot.StatusTodo), TaskSummary{ID: 7, Status: boot.StatusTodo, Steps: 8, Created: t0}},
		{"writing half", writing, TaskSummary{ID: 7, Status: boot.StatusDoing, Step: "Writing image to disk", StepIndex: 4, Steps: 8, BytesDone: 50, BytesTotal: 100, Percent: 43, Created: t0}},
		{"failed first step", failed, TaskSummary{ID: 7, Status: boot.StatusCustomerError, Step: "Downloading image", StepIndex: 1, Steps: 8, Message: "Could not download image", Created: t0}},
		{"done", taskWith(boot.StatusDone, boot.StepDone, boot.StepDone, boot.StepDone, boot.StepDone, boot.StepDone, boot.StepDone, boot.StepDone, boot.StepDone),
			TaskSummary{ID: 7, Status: boot.StatusDone, Step: "Rebooting", StepIndex: 8, Steps: 8, Percent: 100, Created: t0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, SummarizeTask(tc.task)); diff != "" {
				t.Errorf("SummarizeTask (-want +got):\n%s", diff)
			}
		})
	}
}

type fakePower struct {
	state string
	err   error
}

func (p fakePower) PowerState(context.Context, boot.Machine) (string, error) { return p.state, p.err }
func (p fakePower) PowerAction(context.Context, boot.Machine, string) error  { return nil }

func TestSummaryState(t *testing.T) {
	seen := boot.Machine{Name: "m", LastSeen: t0.Add(time.Minute)}
	for _, tc := range []struct {
		name  string
		m     boot.Machine
		tasks []boot.Task
		power PowerControl
		state string
		pw    *PowerView
	}{
		{"new", boot.Machine{Name: "m"}, nil, nil, StateNew, nil},
		{"discovered", boot.Machine{Name: "m", Discovered: true}, nil, nil, StateDiscovered, nil},
		{"waiting", boot.Machine{Name: "m", LastSeen: t0.Add(-time.Hour)}, []boot.Task{taskWith(boot.StatusTodo)}, nil, StateWaiting, nil},
		{"booting", seen, []boot.Task{taskWith(boot.StatusTodo)}, nil, StateBooting, nil},
		{"installing", seen, []boot.Task{taskWith(boot.StatusDoing)}, nil, StateInstalling, nil},
		{"installed", boot.Machine{Name: "m", BootMode: boot.BootModeLocal}, []boot.Task{taskWith(boot.StatusDone)}, nil, StateInstalled, nil},
		{"failed", boot.Machine{Name: "m"}, []boot.Task{taskWith(boot.StatusOVHError), taskWith(boot.StatusDone)}, nil, StateFailed, nil},
		{"cancelled", boot.Machine{Name: "m"}, []boot.Task{taskWith(boot.StatusCancelled)}, nil, StateCancelled, nil},
		{"power on", boot.Machine{Name: "m"}, nil, fakePower{state: "poweron"}, StateNew, &PowerView{State: "on"}},
		{"power off", boot.Machine{Name: "m"}, nil, fakePower{state: "off"}, StateNew, &PowerView{State: "off"}},
		{"power error", boot.Machine{Name: "m"}, nil, fakePower{err: errors.New("BMC at 198.51.100.9 did not answer")}, StateNew, &PowerView{State: "unknown", Error: "BMC at 198.51.100.9 did not answer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summary(context.Background(), tc.m, tc.tasks, tc.power)
			if s.State != tc.state {
				t.Errorf("Summary(%s).State = %s, want %s", tc.name, s.State, tc.state)
			}
			if diff := cmp.Diff(tc.pw, s.Power); diff != "" {
				t.Errorf("Summary(%s).Power (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}
