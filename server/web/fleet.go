package web

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
)

// Machine states as the fleet view shows them.
const (
	StateDiscovered = "discovered" // an unknown MAC PXE-booted; not adopted yet
	StateNew        = "new"        // registered, nothing installed by byoi yet
	StateWaiting    = "waiting"    // a task waits for the machine to PXE-boot
	StateBooting    = "booting"    // the machine PXE-booted the installer; it has not reported yet
	StateInstalling = "installing" // the installer works
	StateInstalled  = "installed"  // boots its disk (local boot)
	StateFailed     = "failed"     // its latest task failed
	StateCancelled  = "cancelled"  // its latest task was cancelled
	StateRescue     = "rescue"     // boots the rescue system
)

// MachineSummary is one machine of the fleet: its stored fields, a state
// word, its active (else latest) task in short, and its power when the
// server has power control. GET /api/v1/machines lists these.
type MachineSummary struct {
	boot.Machine
	State string `json:"state"`
	// IP is the fixed IPv4, else the address of the machine's current DHCP
	// lease (full mode), else empty.
	IP   string       `json:"ip,omitempty"`
	Task *TaskSummary `json:"task,omitempty"`
	// Power is absent when the server has no power control for machines.
	Power *PowerView `json:"power,omitempty"`
}

// TaskSummary is a task in one line: where it is and how far.
type TaskSummary struct {
	ID     int64       `json:"taskId"`
	Status boot.Status `json:"status"`
	// Step is the running (or failed, or last done) step's comment and its
	// place, 1-based, among Steps.
	Step       string    `json:"step,omitempty"`
	StepIndex  int       `json:"stepIndex,omitempty"`
	Steps      int       `json:"steps"`
	BytesDone  int64     `json:"bytesDone,omitempty"`
	BytesTotal int64     `json:"bytesTotal,omitempty"`
	Percent    int       `json:"percent"` // of the whole task, by steps and the running step's bytes
	Message    string    `json:"message,omitempty"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"lastUpdate"`
}

// PowerView is a machine's power state as the power control reports it.
type PowerView struct {
	State string `json:"state"`           // on, off or unknown
	Error string `json:"error,omitempty"` // why it is unknown
}

// Reader is what the fleet summary reads from the store.
type Reader interface {
	Machines(ctx context.Context) ([]boot.Machine, error)
	Tasks(ctx context.Context, machine string) ([]boot.Task, error)
}

// PowerControl is the power side of machines, when the server has one: the
// state of a machine, and actions on it (reboot, rescue…). Its errors are
// shown to the operator as they are: they must never hold a password.
type PowerControl interface {
	// PowerState returns "on"/"poweron" or "off"/"poweroff".
	PowerState(ctx context.Context, m boot.Machine) (string, error)
	// PowerAction performs one of PowerActions on the machine.
	PowerAction(ctx context.Context, m boot.Machine, action string) error
}

// PowerActions are the actions the UI offers when there is power control.
var PowerActions = []string{"reboot", "rescue"}

// leaseReader is optional: a store with DHCP leases gives machines their
// leased address.
type leaseReader interface {
	Leases(ctx context.Context) ([]boot.Lease, error)
}

// Summarize builds the summary of every machine, sorted by name.
func Summarize(ctx context.Context, st Reader, power PowerControl) ([]MachineSummary, error) {
	ms, err := st.Machines(ctx)
	if err != nil {
		return nil, err
	}
	leased := map[string]string{}
	if lr, ok := st.(leaseReader); ok {
		ls, err := lr.Leases(ctx)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			leased[l.MAC] = l.IP
		}
	}
	out := make([]MachineSummary, 0, len(ms))
	for _, m := range ms {
		ts, err := st.Tasks(ctx, m.Name)
		if errors.Is(err, boot.ErrNotFound) { // deleted meanwhile
			continue
		}
		if err != nil {
			return nil, err
		}
		sum := Summary(ctx, m, ts, power)
		for _, mac := range m.MACs {
			if ip := leased[mac]; sum.IP == "" && ip != "" {
				sum.IP = ip
			}
		}
		out = append(out, sum)
	}
	return out, nil
}

// Summary is one machine's summary from its tasks (newest first).
func Summary(ctx context.Context, m boot.Machine, tasks []boot.Task, power PowerControl) MachineSummary {
	s := MachineSummary{Machine: m.Redacted(), State: StateNew, IP: m.IPv4}
	var cur *boot.Task
	for i := range tasks {
		if tasks[i].Status.Active() {
			cur = &tasks[i]
			break
		}
	}
	if cur == nil && len(tasks) > 0 {
		cur = &tasks[0]
	}
	if cur != nil {
		ts := SummarizeTask(*cur)
		s.Task = &ts
	}
	s.State = machineState(m, cur)
	if power != nil {
		s.Power = powerView(ctx, m, power)
	}
	return s
}

func machineState(m boot.Machine, t *boot.Task) string {
	switch {
	case m.Discovered:
		return StateDiscovered
	case t != nil && (t.Status == boot.StatusTodo || t.Status == boot.StatusInit):
		if !m.LastSeen.IsZero() && !m.LastSeen.Before(t.Created) {
			return StateBooting
		}
		return StateWaiting
	case t != nil && t.Status == boot.StatusDoing:
		return StateInstalling
	case m.BootMode == boot.BootModeRescue:
		return StateRescue
	case m.BootMode == boot.BootModeLocal:
		return StateInstalled
	case t != nil && (t.Status == boot.StatusCustomerError || t.Status == boot.StatusOVHError):
		return StateFailed
	case t != nil && t.Status == boot.StatusCancelled:
		return StateCancelled
	}
	return StateNew
}

// SummarizeTask sums a task up: its current step and overall progress.
func SummarizeTask(t boot.Task) TaskSummary {
	s := TaskSummary{ID: t.ID, Status: t.Status, Steps: len(t.Steps), Message: t.Message, Created: t.Created, Updated: t.LastUpdate}
	done := 0.0
	for i, st := range t.Steps {
		switch st.Status {
		case boot.StepDone:
			done++
			s.Step, s.StepIndex = st.Comment, i+1
		case boot.StepDoing, boot.StepError:
			s.Step, s.StepIndex, s.BytesDone, s.BytesTotal = st.Comment, i+1, st.BytesDone, st.BytesTotal
			if st.Status == boot.StepDoing && st.BytesTotal > 0 {
				done += min(float64(st.BytesDone)/float64(st.BytesTotal), 1)
			}
		}
		if st.Status == boot.StepDoing || st.Status == boot.StepError {
			break
		}
	}
	if len(t.Steps) > 0 {
		s.Percent = int(100 * done / float64(len(t.Steps)))
	}
	if t.Status == boot.StatusDone {
		s.Percent = 100
	}
	return s
}

func powerView(ctx context.Context, m boot.Machine, p PowerControl) *PowerView {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := p.PowerState(ctx, m)
	if err != nil {
		return &PowerView{State: "unknown", Error: err.Error()}
	}
	switch strings.ToLower(st) {
	case "on", "poweron":
		return &PowerView{State: "on"}
	case "off", "poweroff":
		return &PowerView{State: "off"}
	}
	return &PowerView{State: "unknown", Error: fmt.Sprintf("power control answered %q", st)}
}

// StatusText is a task status in the operator's words (OVH's words stay in
// the /1.0 API).
func StatusText(s boot.Status) string {
	switch s {
	case boot.StatusInit, boot.StatusTodo:
		return "waiting"
	case boot.StatusDoing:
		return "installing"
	case boot.StatusDone:
		return "done"
	case boot.StatusCancelled:
		return "cancelled"
	case boot.StatusCustomerError:
		return "failed (image or request)"
	case boot.StatusOVHError:
		return "failed (machine or byoi)"
	}
	return string(s)
}
