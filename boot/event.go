package boot

import "time"

// EventKind names an entry of a machine's history.
type EventKind string

// Event kinds.
const (
	EventDiscovered     EventKind = "discovered"
	EventMachineAdded   EventKind = "machine.added"
	EventMachineChanged EventKind = "machine.changed"
	EventTaskCreated    EventKind = "task.created"
	EventTaskCancelled  EventKind = "task.cancelled"
	EventDHCP           EventKind = "dhcp"      // a boot file was handed out by DHCP
	EventBootDecision   EventKind = "boot"      // a boot script was served
	EventInstallerUp    EventKind = "installer" // the installer fetched its task
	EventStep           EventKind = "step"
	EventTaskDone       EventKind = "task.done"
	EventTaskError      EventKind = "task.error"
	EventBootMode       EventKind = "bootmode"
	EventPower          EventKind = "power"  // a power action and its result
	EventRescue         EventKind = "rescue" // the rescue system booted or reported
	EventLog            EventKind = "log"    // output of a step the installer streams
)

// Event is one entry of a machine's append-only history: what happened,
// when, and to which task. It never holds secrets.
type Event struct {
	Seq     uint64    `json:"seq"` // assigned by the store, increasing per store
	Time    time.Time `json:"time"`
	Machine string    `json:"serviceName"`
	TaskID  int64     `json:"taskId,omitempty"`
	Kind    EventKind `json:"kind"`
	Message string    `json:"message"`
}
