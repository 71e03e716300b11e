// Package agentapi holds the JSON types and paths that cross the wire
// between the byoi server and the installer agent. It is a leaf: both sides
// import it, so the agent binary never links the server.
//
// The agent authenticates every call with "Authorization: Bearer <token>",
// the one-time token the server put on the installer's kernel command line:
//
//	GET  /agent/v1/task      → Task
//	POST /agent/v1/progress  ← Progress   (204)
//	POST /agent/v1/done      ← Done       (204)
//	POST /agent/v1/error     ← Failure    (204)
//	POST /agent/v1/log       ← Log        (204)  output of a step's program (BYOLinux)
//
// The rescue system (the same agent booted with byoi.mode=rescue) uses the
// per-boot token of its rescue script the same way:
//
//	GET  /agent/v1/rescue        → Rescue
//	POST /agent/v1/rescue/ready  ← RescueReady (204)
package agentapi

import (
	"github.com/byoi/byoi/boot"
)

// Paths of the agent API.
const (
	PathTask     = "/agent/v1/task"
	PathProgress = "/agent/v1/progress"
	PathDone     = "/agent/v1/done"
	PathError    = "/agent/v1/error"
	PathLog      = "/agent/v1/log"

	PathRescue      = "/agent/v1/rescue"
	PathRescueReady = "/agent/v1/rescue/ready"
)

// Kernel command-line parameters the installer script passes to the agent.
const (
	ParamServer   = "byoi.server"   // base URL, e.g. http://198.51.100.1:8080
	ParamTask     = "byoi.task"     // task ID
	ParamToken    = "byoi.token"    // one-time token
	ParamPoweroff = "byoi.poweroff" // "1": power off instead of rebooting at the end
	ParamDebug    = "byoi.debug"    // "1": rescue shell on fatal errors, if available
	ParamBootIf   = "BOOTIF"        // 01-aa-bb-cc-dd-ee-ff, the MAC iPXE booted from
	ParamMode     = "byoi.mode"     // ModeInstall (the default) or ModeRescue
)

// Values of ParamMode.
const (
	ModeInstall = "install" // install the task byoi.task (byoi.token is the task's)
	ModeRescue  = "rescue"  // run the rescue system (byoi.token is this boot's)
)

// Task is what the agent receives: everything it needs to install, secrets
// included (this is the one place they are handed out).
type Task struct {
	ID      int64            `json:"taskId"`
	Machine string           `json:"serviceName"`
	Spec    boot.InstallSpec `json:"spec"`
	// Disk is the resolved disk selection rule (machine hints, or the
	// diskGroupId's group).
	Disk boot.DiskHints `json:"disk"`
	// Steps lists what the agent must report on, in order.
	Steps []boot.StepID `json:"steps"`
	// Network describes the boot NIC for the config drive's
	// network_data.json; nil keeps the agent's default (DHCP on the NIC it
	// booted from, or on every NIC of the machine).
	Network *Network `json:"network,omitempty"`
}

// Network modes.
const (
	NetworkDHCP   = "dhcp"
	NetworkStatic = "static"
)

// Network is how the installed system configures the NIC the machine
// booted from (the MAC byoi knows it by): DHCP, or the fixed IPv4 address
// the machine has (full DHCP mode with a fixed address), with its prefix
// length, gateway and DNS servers.
type Network struct {
	MAC     string   `json:"mac"`
	Mode    string   `json:"mode"`              // NetworkDHCP or NetworkStatic
	Address string   `json:"address,omitempty"` // static: IPv4, e.g. 198.51.100.10
	Prefix  int      `json:"prefix,omitempty"`  // static: e.g. 24
	Gateway string   `json:"gateway,omitempty"` // static, optional
	DNS     []string `json:"dns,omitempty"`     // static, optional
}

// Progress reports one step's state.
type Progress struct {
	Step       boot.StepID     `json:"step"`
	Status     boot.StepStatus `json:"status"`
	BytesDone  int64           `json:"bytesDone,omitempty"`
	BytesTotal int64           `json:"bytesTotal,omitempty"`
	// Comment replaces the step's comment when set (e.g. the chosen disk).
	Comment string `json:"comment,omitempty"`
}

// Done ends the task successfully. BootMode and EFIBootloaderPath say what
// the machine should boot from now on.
type Done struct {
	BootMode          boot.BootMode `json:"bootMode"`
	EFIBootloaderPath string        `json:"efiBootloaderPath,omitempty"`
	// Disk is the device the image went to, for the record.
	Disk string `json:"disk,omitempty"`
}

// Failure classes.
const (
	ClassCustomer = "customer" // the image or the request is at fault → customerError
	ClassInternal = "internal" // byoi or the machine is at fault → ovhError
)

// Failure ends the task in error.
type Failure struct {
	Step    boot.StepID `json:"step"`
	Class   string      `json:"class"`
	Message string      `json:"message"`
}

// Error is the JSON body of any non-2xx answer of the agent API.
type Error struct {
	Message string `json:"message"`
}

// Rescue is the rescue system's configuration for one boot.
type Rescue struct {
	Machine string `json:"serviceName"`
	// SSHKeys are OpenSSH public keys ("ssh-ed25519 AAAA… comment"), one per
	// entry, installed as root's authorized_keys.
	SSHKeys []string `json:"sshKeys"`
}

// RescueReady tells the server the rescue system is reachable.
type RescueReady struct {
	// Addresses are the IP addresses sshd listens on, boot NIC first.
	Addresses []string `json:"addresses"`
	// HostKeys are the SSH host key fingerprints as `ssh-keygen -l` shows
	// them: "ED25519 SHA256:…", one per key type.
	HostKeys []string `json:"hostKeys"`
	// HostPublicKeys are the host keys themselves ("ssh-ed25519 AAAA…"),
	// for a known_hosts file.
	HostPublicKeys []string `json:"hostPublicKeys"`
}

// Log carries lines of output of a program a step runs (BYOLinux's
// make_image_bootable.sh, mkfs, mdadm), in order, while it runs. The server
// keeps every line with the task (byoi logs NAME) and may show the last one
// in the step's comment. Seq is the index of Lines[0] in the step's output,
// counted from 0: a batch the agent sends again after a lost answer repeats
// its Seq, so the server drops lines it already has (Seq+i below what it
// holds) and never stores a line twice. Lines carry no newline; a line
// longer than MaxLogLine bytes is cut and ends with "…".
type Log struct {
	Step  boot.StepID `json:"step"`
	Seq   int64       `json:"seq"`
	Lines []string    `json:"lines"`
	// Stream says where the lines come from, e.g. "make_image_bootable.sh".
	Stream string `json:"stream,omitempty"`
}

// Limits of a Log batch.
const (
	MaxLogLine  = 4096
	MaxLogLines = 256
)
