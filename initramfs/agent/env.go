// Package agent is byoi's installer: the program that runs as /init in the
// installer initramfs. It reads its orders from the kernel command line
// (byoi.server, byoi.task, byoi.token, BOOTIF, ip=), brings the machine up
// (mounts, kernel modules, network), fetches its task from the byoi server,
// writes the image to the selected disk, fixes the GPT, adds the config
// drive, reports every step, and reboots into the installed system. On a
// fatal error it reports it and stays on the console, never rebooting into
// a half-written disk.
//
// With byoi.mode=rescue (and the tools and rescue initrd layers) it is the
// rescue system instead: same bring-up, then it fetches the machine's SSH
// keys with its per-boot token, starts Debian's sshd (initramfs/rescue),
// prints "rescue: ssh root@ADDR (host key SHA256:…)" on the console,
// reports the addresses and host keys to byoi, and keeps sshd running; it
// never reboots by itself.
//
// Run holds the whole flow and takes its environment (command line, sysfs
// and /dev roots, HTTP client, clock, reboot function) as an Env, so it
// runs in tests against a fake server and a file standing in for the disk:
//
//	err := agent.Run(ctx, agent.Env{Cmdline: "byoi.server=http://… byoi.task=7 byoi.token=…",
//		SysRoot: fakeSys, DevRoot: fakeDev, Reboot: func(bool) error { return nil }})
//
// Main is the real /init.
package agent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/byoi/byoi/initramfs/rescue"
)

// Clock is the time source of the agent's waits and retry deadlines.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Env is everything Run takes from the machine. Zero fields get defaults
// (see withDefaults); Cmdline and Reboot have none that make sense outside
// the real /init.
type Env struct {
	// Cmdline is the kernel command line (/proc/cmdline's content).
	Cmdline string
	// SysRoot and DevRoot are where disks are discovered: "/sys" and "/dev".
	SysRoot, DevRoot string
	// Client is used for the agent API and the image download; nil: the
	// image package's default client (with timeouts) for the download and
	// http.DefaultClient for the API.
	Client *http.Client
	Clock  Clock
	// Prepare brings the machine up once the command line is known:
	// kernel modules, network. Nil: nothing to do (tests, or a system that
	// is already up).
	Prepare func(ctx context.Context, c Config) error
	// Reboot restarts (or, with poweroff, powers off) the machine after a
	// successful install. Nil: Run returns instead.
	Reboot func(poweroff bool) error
	// Logger receives the agent's log; nil discards.
	Logger *slog.Logger
	// Console receives what an operator at the machine must read (the
	// rescue system's "rescue: ssh root@…" lines); nil discards.
	Console io.Writer

	// SSH is the rescue system's SSH server; nil: Debian's sshd as the
	// rescue layer installs it (initramfs/rescue defaults).
	SSH SSHServer
	// Addresses lists the addresses the rescue system reports, boot
	// interface first; nil: the up interfaces' global unicast addresses.
	Addresses func(Config) ([]string, error)

	// DiskWait bounds the wait for the target disk to appear (default 60 s).
	DiskWait time.Duration
	// ReportRetry bounds the retries of one call to the server (default 5 min).
	ReportRetry time.Duration
	// ProgressEvery is the gap between byte-count reports (default 500 ms).
	ProgressEvery time.Duration
	// ImageRetryWait is the first wait between image download retries
	// (default: the image package's).
	ImageRetryWait time.Duration

	// WorkDir is where BYOLinux mounts the image and the target (default
	// /run/byoi).
	WorkDir string
	// ScriptTimeout bounds BYOLinux's make_image_bootable.sh (default 30
	// minutes).
	ScriptTimeout time.Duration
}

func (e Env) withDefaults() Env {
	if e.SysRoot == "" {
		e.SysRoot = "/sys"
	}
	if e.DevRoot == "" {
		e.DevRoot = "/dev"
	}
	if e.Clock == nil {
		e.Clock = realClock{}
	}
	if e.Logger == nil {
		e.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.DiskWait == 0 {
		e.DiskWait = 60 * time.Second
	}
	if e.ReportRetry == 0 {
		e.ReportRetry = 5 * time.Minute
	}
	if e.WorkDir == "" {
		e.WorkDir = "/run/byoi"
	}
	if e.ProgressEvery == 0 {
		e.ProgressEvery = 500 * time.Millisecond
	}
	if e.Console == nil {
		e.Console = io.Discard
	}
	if e.SSH == nil {
		e.SSH = rescue.System{Log: e.Logger}
	}
	if e.Addresses == nil {
		e.Addresses = interfaceAddresses
	}
	return e
}
