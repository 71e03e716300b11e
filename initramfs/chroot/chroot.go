// Package chroot runs a BYOLinux image's /root/.ovh/make_image_bootable.sh
// inside the installed system: chrooted into the target root, with /proc,
// /sys (and efivarfs on UEFI), /dev, /dev/pts, /dev/shm and /run mounted,
// the installer's DNS servers in /etc/resolv.conf and only the installer's
// console= arguments in /proc/cmdline (a file bound over it: the real one
// holds the installer's one-time token). Its output, stdout and stderr
// together, is passed on line by line as it comes; a time-out kills the
// script and everything it started.
//
//	res, err := chroot.Run(ctx, chroot.Options{Root: "/run/byoi/target", UEFI: true,
//		Cmdline: "console=ttyS0,115200", ResolvConf: conf, Output: send})
//	// err: ErrNoScript, ErrNotExecutable, *ExitError, *TimeoutError (with
//	// the last lines) or a setup failure
//
// Everything mounted is unmounted afterwards (lazily when a leftover
// process keeps it busy, after every process whose root is the target was
// killed); the image's own /etc/resolv.conf is left as it was.
package chroot

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultScript is where OVH's BYOLinux images carry their script.
const DefaultScript = "/root/.ovh/make_image_bootable.sh"

// DefaultTimeout bounds the script's run.
const DefaultTimeout = 30 * time.Minute

// TailLines is how many last lines of output errors carry.
const TailLines = 20

// Options say what to run and how. Root is required.
type Options struct {
	Root string
	// Script is the path inside Root; default DefaultScript.
	Script string
	// Timeout; default DefaultTimeout.
	Timeout time.Duration
	// UEFI mounts efivarfs on /sys/firmware/efi/efivars.
	UEFI bool
	// Cmdline is what the script reads from /proc/cmdline (console=…).
	Cmdline string
	// ResolvConf is the installer's /etc/resolv.conf content; nil leaves
	// the image's.
	ResolvConf []byte
	// Env is added to the script's environment (KEY=value).
	Env []string
	// DevLinks are symbolic links made in the chroot's /dev (a devtmpfs,
	// where no udev runs) for the script, as udev would have them: name
	// relative to /dev (e.g. "disk/by-uuid/<uuid>") → device ("/dev/md1").
	// grub-mkconfig writes root=UUID=… only when /dev/disk/by-uuid/<uuid>
	// exists, else the kernel name of the day (root=/dev/md1), which an
	// md array assembled at boot under another number does not match.
	// They are removed afterwards.
	DevLinks map[string]string
	// Output receives each line of output (without its newline; lines
	// longer than MaxLine are cut) as soon as it is complete.
	Output func(line string)
}

// MaxLine is the longest line passed on; longer ones are cut with "…".
const MaxLine = 4096

// Result describes a run that ended (successfully or not).
type Result struct {
	ExitCode int
	Lines    int64
	Tail     []string // last TailLines lines
	Duration time.Duration
}

// Errors of a script that could not do its job.
var (
	ErrNoScript      = errors.New("script not found")
	ErrNotExecutable = errors.New("script not executable")
)

// ExitError is a script that exited with a non-zero status (or was killed
// by a signal, Code -1).
type ExitError struct {
	Code   int
	Signal string
	Tail   []string
}

func (e *ExitError) Error() string {
	what := fmt.Sprintf("exited with status %d", e.Code)
	if e.Signal != "" {
		what = "was killed by signal " + e.Signal
	}
	return what + lastLines(e.Tail)
}

// TimeoutError is a script that was still running after the time-out.
type TimeoutError struct {
	After time.Duration
	Tail  []string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("did not finish within %s and was killed", e.After) + lastLines(e.Tail)
}

func lastLines(tail []string) string {
	if len(tail) == 0 {
		return " (no output)"
	}
	return "; last lines of its output:\n" + strings.Join(tail, "\n")
}

// ConsoleArgs keeps the console= arguments of a kernel command line.
func ConsoleArgs(cmdline string) string {
	var out []string
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "console=") {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}
