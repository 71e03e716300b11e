// Package ipxe renders byoi's iPXE scripts and knows which iPXE binary each
// kind of client needs.
//
// Scripts are the commented templates under templates/, embedded in the
// binary and rendered into a buffer: an error (a value that cannot be placed
// safely, a missing field) returns the error and writes nothing, never half a
// script. Every value from outside is checked and escaped for the way iPXE
// splits and expands a command line (see escape.go):
//
//	var buf bytes.Buffer
//	if err := ipxe.Script(&buf, boot.Decide(m, t), params); err != nil {
//		return err // nothing was written
//	}
//	w.Write(buf.Bytes())
package ipxe

import (
	"fmt"
	"io"
	"time"

	"github.com/byoi/byoi/boot"
)

// BootstrapParams fill /boot.ipxe, the fixed first-stage script.
type BootstrapParams struct {
	// BaseURL is the server's HTTP base URL as machines reach it,
	// e.g. "http://198.51.100.1:8080" (no trailing slash).
	BaseURL string
	// Attempts is how many times iPXE tries to fetch the per-machine script
	// before it gives up and exits (DefaultAttempts if 0).
	Attempts int
	// RetryDelay is the pause between attempts, whole seconds
	// (DefaultRetryDelay if 0).
	RetryDelay time.Duration
}

// Defaults of BootstrapParams.
const (
	DefaultAttempts   = 10
	DefaultRetryDelay = 5 * time.Second
)

// withDefaults fills zero fields and checks the others.
func (p BootstrapParams) withDefaults() (BootstrapParams, error) {
	if p.Attempts == 0 {
		p.Attempts = DefaultAttempts
	}
	if p.RetryDelay == 0 {
		p.RetryDelay = DefaultRetryDelay
	}
	if p.Attempts < 1 || p.Attempts > 100 {
		return p, fmt.Errorf("ipxe: bootstrap attempts %d: must be 1-100", p.Attempts)
	}
	if p.RetryDelay < time.Second || p.RetryDelay > time.Hour {
		return p, fmt.Errorf("ipxe: bootstrap retry delay %s: must be 1s-1h", p.RetryDelay)
	}
	return p, nil
}

// ScriptParams fill the per-machine script.
type ScriptParams struct {
	BaseURL  string
	Firmware boot.Firmware // from ${platform}
	Arch     boot.Arch     // from ${buildarch}
	MAC      string        // the MAC iPXE booted from, colon form
	// Install and rescue only:
	KernelURL string
	InitrdURL string
	// InitrdURLs are more initrds, loaded after InitrdURL in this order:
	// the layers the kernel unpacks over the installer's initramfs (install:
	// tools.img for BYOLinux; rescue: tools.img then rescue.img).
	InitrdURLs []string
	Token      string   // plaintext token: the task's (install) or this boot's (rescue)
	ExtraArgs  []string // extra kernel arguments (e.g. "console=ttyS0", "byoi.poweroff=1")
}

// Bootstrap writes the first-stage script. It writes nothing on error.
func Bootstrap(w io.Writer, p BootstrapParams) error {
	data, err := bootstrapData(p)
	if err != nil {
		return err
	}
	return render(w, "bootstrap.ipxe", data)
}

// Script writes the per-machine script for a decision. It writes nothing on error.
func Script(w io.Writer, a boot.Action, p ScriptParams) error {
	var (
		name string
		data any
		err  error
	)
	switch a.Kind {
	case boot.ActionInstall:
		name = "install.ipxe"
		data, err = installData(a, p)
	case boot.ActionRescue:
		name = "rescue.ipxe"
		data, err = rescueData(a, p)
	case boot.ActionLocal:
		switch p.Firmware {
		case boot.FirmwareEFI:
			name = "local-efi.ipxe"
			data, err = localEFIData(a, p)
		case boot.FirmwareBIOS:
			name = "local-bios.ipxe"
			data, err = localBIOSData(a)
		default:
			err = fmt.Errorf("ipxe: local boot of %q: unknown firmware %q", a.Machine, p.Firmware)
		}
	case boot.ActionExit:
		name = "exit.ipxe"
		data, err = exitData(a)
	default:
		err = fmt.Errorf("ipxe: unknown action %d", a.Kind)
	}
	if err != nil {
		return err
	}
	return render(w, name, data)
}
