// Package ipxe renders byoi's iPXE scripts and knows which iPXE binary each
// kind of client needs.
package ipxe

// NOTE(foundation): this file fixes the package's API so that server/http
// can be written against it; the implementation lands with the ipxe work.

import (
	"errors"
	"io"

	"github.com/byoi/byoi/boot"
)

// BootstrapParams fill /boot.ipxe, the fixed first-stage script.
type BootstrapParams struct {
	// BaseURL is the server's HTTP base URL as machines reach it,
	// e.g. "http://198.51.100.1:8080" (no trailing slash).
	BaseURL string
}

// ScriptParams fill the per-machine script.
type ScriptParams struct {
	BaseURL  string
	Firmware boot.Firmware // from ${platform}
	Arch     boot.Arch     // from ${buildarch}
	MAC      string        // the MAC iPXE booted from, colon form
	// Install only:
	KernelURL string
	InitrdURL string
	Token     string   // plaintext one-time token for the task
	ExtraArgs []string // extra kernel arguments (e.g. "console=ttyS0", "byoi.poweroff=1")
}

// Bootstrap writes the first-stage script. It writes nothing on error.
func Bootstrap(w io.Writer, p BootstrapParams) error { return errors.New("ipxe: not implemented") }

// Script writes the per-machine script for a decision. It writes nothing on error.
func Script(w io.Writer, a boot.Action, p ScriptParams) error {
	return errors.New("ipxe: not implemented")
}

// Options choose among binaries.
type Options struct {
	// SNPOnly hands x86-64 UEFI clients snponly.efi instead of ipxe.efi.
	SNPOnly bool
}

// BinaryFor returns the file name of the iPXE binary for a firmware-stage
// client ("undionly.kpxe", "ipxe.efi", "snponly.efi", "ipxe-arm64.efi"), or
// false when byoi has none for it.
func BinaryFor(c boot.Client, o Options) (string, bool) { return "", false }
