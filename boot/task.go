package boot

import "time"

// Status is an OVH task status.
type Status string

// Task statuses, as OVH names them.
const (
	StatusInit          Status = "init"
	StatusTodo          Status = "todo"
	StatusDoing         Status = "doing"
	StatusDone          Status = "done"
	StatusCancelled     Status = "cancelled"
	StatusCustomerError Status = "customerError"
	StatusOVHError      Status = "ovhError"
)

// Active reports whether a task in this status still holds its machine.
func (s Status) Active() bool {
	return s == StatusInit || s == StatusTodo || s == StatusDoing
}

// Final reports whether the status is terminal.
func (s Status) Final() bool {
	switch s {
	case StatusDone, StatusCancelled, StatusCustomerError, StatusOVHError:
		return true
	}
	return false
}

// CanTransition reports whether a task may move from s to next.
// Terminal states never change; doing never returns to todo.
func (s Status) CanTransition(next Status) bool {
	switch s {
	case StatusInit:
		return next == StatusTodo || next.Final()
	case StatusTodo:
		return next == StatusDoing || next.Final()
	case StatusDoing:
		return next == StatusDoing || next.Final()
	}
	return false
}

// StepStatus is the status of one install/status step, as OVH names them.
type StepStatus string

// Step statuses.
const (
	StepTodo  StepStatus = "todo"
	StepDoing StepStatus = "doing"
	StepDone  StepStatus = "done"
	StepError StepStatus = "error"
)

// StepID names an installation step. The IDs are byoi's; Comment holds the
// human text OVH shows in install/status.
type StepID string

// The installation steps, in order.
const (
	StepDownload    StepID = "download"
	StepCheck       StepID = "check"
	StepPreflight   StepID = "preflight"
	StepWrite       StepID = "write"
	StepGPT         StepID = "gpt"
	StepConfigDrive StepID = "configdrive"
	StepBootSetup   StepID = "bootsetup"
	StepReboot      StepID = "reboot"
)

// The steps a BYOLinux installation adds (see StepsFor).
const (
	StepInspect    StepID = "inspect"
	StepPartition  StepID = "partition"
	StepCopy       StepID = "copy"
	StepVerify     StepID = "verify"
	StepConfigure  StepID = "configure"
	StepBootloader StepID = "bootloader"
)

// StepComments are the install/status comments of each step.
var StepComments = map[StepID]string{
	StepDownload:    "Downloading image",
	StepCheck:       "Checking image format and checksum",
	StepPreflight:   "Checking that the image can boot (partition table, EFI system partition, loader)",
	StepWrite:       "Writing image to disk",
	StepGPT:         "Moving backup GPT data structures to the end of disk",
	StepConfigDrive: "Creating config drive",
	StepBootSetup:   "Setting up boot from disk",
	StepReboot:      "Rebooting",

	StepInspect:    "Opening image and checking its file system",
	StepPartition:  "Partitioning disks, creating RAID arrays, volumes and file systems",
	StepCopy:       "Copying the image's files to disk",
	StepVerify:     "Verifying image checksum",
	StepConfigure:  "Writing /etc/fstab and mdadm.conf",
	StepBootloader: "Running /root/.ovh/make_image_bootable.sh",
}

// Steps lists the step IDs of a BYOI installation in order.
func Steps() []StepID {
	return []StepID{StepDownload, StepCheck, StepPreflight, StepWrite, StepGPT, StepConfigDrive, StepBootSetup, StepReboot}
}

// StepsFor lists the step IDs of an installation of operatingSystem os:
// Steps for byoi_64, and for byolinux_64 inspect, partition, copy, verify,
// configure, bootloader, then the config drive, boot setup and reboot.
func StepsFor(os string) []StepID {
	if os == OSBYOLinux {
		return []StepID{StepInspect, StepPartition, StepCopy, StepVerify, StepConfigure, StepBootloader,
			StepConfigDrive, StepBootSetup, StepReboot}
	}
	return Steps()
}

// NewStepsFor returns the step list of a fresh task of operatingSystem os,
// every step todo.
func NewStepsFor(os string) []Step {
	ids := StepsFor(os)
	steps := make([]Step, len(ids))
	for i, id := range ids {
		steps[i] = Step{ID: id, Comment: StepComments[id], Status: StepTodo}
	}
	return steps
}

// Step is one entry of a task's progress.
type Step struct {
	ID         StepID     `json:"id"`
	Comment    string     `json:"comment"`
	Status     StepStatus `json:"status"`
	Error      string     `json:"error"`
	BytesDone  int64      `json:"bytesDone,omitempty"`
	BytesTotal int64      `json:"bytesTotal,omitempty"`
	Updated    time.Time  `json:"updated,omitzero"`
}

// NewSteps returns the step list of a fresh task, every step todo.
func NewSteps() []Step { return NewStepsFor(OSBYOI) }

// Task is one reinstallation of one machine.
type Task struct {
	ID       int64  `json:"taskId"`
	Machine  string `json:"serviceName"`
	Function string `json:"function"` // e.g. "reinstallServer"
	Comment  string `json:"comment"`
	Status   Status `json:"status"`
	// Message is the error message of a failed task (OVH wording).
	Message string      `json:"message,omitempty"`
	Spec    InstallSpec `json:"spec"`
	Steps   []Step      `json:"steps"`
	// TokenHash is the SHA-256 of the installer's one-time token, hex.
	// Empty until the machine PXE-boots into the installer.
	TokenHash string    `json:"tokenHash,omitempty"`
	Created   time.Time `json:"created"`
	// StartDate is when the task was created, as OVH sets it.
	StartDate time.Time `json:"startDate,omitzero"`
	// InstallerStarted is when the installer fetched the task (doing).
	InstallerStarted time.Time `json:"installerStarted,omitzero"`
	LastUpdate       time.Time `json:"lastUpdate"`
	DoneDate         time.Time `json:"doneDate,omitzero"`
}

// Step returns a pointer to the step with the given ID, or nil.
func (t *Task) Step(id StepID) *Step {
	for i := range t.Steps {
		if t.Steps[i].ID == id {
			return &t.Steps[i]
		}
	}
	return nil
}
