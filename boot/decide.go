package boot

// ActionKind is what a machine boots now.
type ActionKind int

// Actions.
const (
	// ActionExit: leave iPXE and let the firmware try its next boot device.
	ActionExit ActionKind = iota
	// ActionInstall: boot the installer for a pending task.
	ActionInstall
	// ActionLocal: boot the local disk.
	ActionLocal
)

func (k ActionKind) String() string {
	switch k {
	case ActionInstall:
		return "install"
	case ActionLocal:
		return "local"
	default:
		return "exit"
	}
}

// Action is the decision for one boot, before rendering to an iPXE script.
type Action struct {
	Kind    ActionKind
	Machine string
	// Reason explains the decision in a few words, for logs and scripts.
	Reason string
	// Task is set for ActionInstall.
	Task *Task
	// EFIBootloaderPath is set for ActionLocal on UEFI (may be empty: then
	// only the removable-media default path is tried).
	EFIBootloaderPath string
}

// Decide is the one decision: what does this machine boot now?
// m is nil for an unknown MAC; t is the machine's active task or nil.
func Decide(m *Machine, t *Task) Action {
	switch {
	case m == nil:
		return Action{Kind: ActionExit, Reason: "unknown machine"}
	case m.Discovered:
		return Action{Kind: ActionExit, Machine: m.Name, Reason: "discovered, not adopted"}
	case t != nil && (t.Status == StatusTodo || t.Status == StatusDoing):
		return Action{Kind: ActionInstall, Machine: m.Name, Task: t, Reason: "task pending"}
	case m.BootMode == BootModeLocal:
		return Action{Kind: ActionLocal, Machine: m.Name, EFIBootloaderPath: m.EFIBootloaderPath, Reason: "installed"}
	default:
		return Action{Kind: ActionExit, Machine: m.Name, Reason: "nothing to install"}
	}
}
