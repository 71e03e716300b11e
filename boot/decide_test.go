package boot

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecide(t *testing.T) {
	fresh := &Machine{Name: "web-1", MACs: []string{"52:54:00:12:34:56"}}
	installed := &Machine{Name: "web-1", BootMode: BootModeLocal, EFIBootloaderPath: `\efi\debian\grubx64.efi`}
	installedNoPath := &Machine{Name: "web-1", BootMode: BootModeLocal}
	discovered := &Machine{Name: "discovered-525400123456", Discovered: true}
	discoveredLocal := &Machine{Name: "discovered-525400123456", Discovered: true, BootMode: BootModeLocal}
	task := func(s Status) *Task { return &Task{ID: 5, Machine: "web-1", Status: s} }

	tests := []struct {
		name string
		m    *Machine
		t    *Task
		want Action
	}{
		{"unknown MAC", nil, nil, Action{Kind: ActionExit, Reason: "unknown machine"}},
		{"unknown MAC with a task", nil, task(StatusTodo), Action{Kind: ActionExit, Reason: "unknown machine"}},
		{"discovered", discovered, nil, Action{Kind: ActionExit, Machine: discovered.Name, Reason: "discovered, not adopted"}},
		{"discovered with a task", discovered, task(StatusTodo), Action{Kind: ActionExit, Machine: discovered.Name, Reason: "discovered, not adopted"}},
		{"discovered in local mode", discoveredLocal, nil, Action{Kind: ActionExit, Machine: discovered.Name, Reason: "discovered, not adopted"}},
		{"fresh, no task", fresh, nil, Action{Kind: ActionExit, Machine: "web-1", Reason: "nothing to install"}},
		{"fresh, task todo", fresh, task(StatusTodo), Action{Kind: ActionInstall, Machine: "web-1", Task: task(StatusTodo), Reason: "task pending"}},
		{"fresh, task doing (installer rebooted)", fresh, task(StatusDoing), Action{Kind: ActionExit, Machine: "web-1", Task: task(StatusDoing), Reason: "rebooted during install"}},
		{"installed, task doing (installer rebooted)", installed, task(StatusDoing), Action{Kind: ActionExit, Machine: "web-1", Task: task(StatusDoing), Reason: "rebooted during install"}},
		{"fresh, task init", fresh, task(StatusInit), Action{Kind: ActionExit, Machine: "web-1", Reason: "nothing to install"}},
		{"fresh, task done", fresh, task(StatusDone), Action{Kind: ActionExit, Machine: "web-1", Reason: "nothing to install"}},
		{"fresh, task failed", fresh, task(StatusCustomerError), Action{Kind: ActionExit, Machine: "web-1", Reason: "nothing to install"}},
		{"installed, no task", installed, nil, Action{Kind: ActionLocal, Machine: "web-1", Reason: "installed", EFIBootloaderPath: `\efi\debian\grubx64.efi`}},
		{"installed without efi path", installedNoPath, nil, Action{Kind: ActionLocal, Machine: "web-1", Reason: "installed"}},
		{"installed, task todo (reinstall)", installed, task(StatusTodo), Action{Kind: ActionInstall, Machine: "web-1", Task: task(StatusTodo), Reason: "task pending"}},
		{"rescue", &Machine{Name: "web-1", BootMode: BootModeRescue}, nil, Action{Kind: ActionRescue, Machine: "web-1", Reason: "rescue mode"}},
		{"rescue, task todo (reinstall wins)", &Machine{Name: "web-1", BootMode: BootModeRescue}, task(StatusTodo), Action{Kind: ActionInstall, Machine: "web-1", Task: task(StatusTodo), Reason: "task pending"}},
		{"installed, task cancelled", installed, task(StatusCancelled), Action{Kind: ActionLocal, Machine: "web-1", Reason: "installed", EFIBootloaderPath: `\efi\debian\grubx64.efi`}},
		{"installed, task ovhError", installed, task(StatusOVHError), Action{Kind: ActionLocal, Machine: "web-1", Reason: "installed", EFIBootloaderPath: `\efi\debian\grubx64.efi`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.m, tt.t)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Decide (-want +got):\n%s", diff)
			}
			if tt.want.Kind == ActionInstall && got.Task != tt.t {
				t.Errorf("Decide returned a copy of the task, want the task given")
			}
		})
	}
}

func TestActionKindString(t *testing.T) {
	for k, want := range map[ActionKind]string{ActionExit: "exit", ActionInstall: "install", ActionLocal: "local", ActionRescue: "rescue", ActionKind(7): "exit"} {
		if got := k.String(); got != want {
			t.Errorf("ActionKind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
