package netns

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run calls fn on an OS thread switched into the namespace, then switches
// the thread back. Sockets fn creates stay in the namespace after Run
// returns. fn runs on its own goroutine: it must not call t.Fatal, and any
// goroutine it starts runs outside the namespace.
//
// If the thread cannot be switched back it is never reused: its goroutine
// exits still locked to it, and the Go runtime then terminates the thread.
func (ns *NS) Run(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := ns.runLocked(fn)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// runLocked does the switching; it reports whether the thread is back in
// its original namespace.
func (ns *NS) runLocked(fn func() error) (restored bool, err error) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return true, fmt.Errorf("open current namespace: %w", err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns.name)
	if err != nil {
		return true, fmt.Errorf("open namespace %s: %w", ns.name, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("enter namespace %s: %w", ns.name, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return false, fmt.Errorf("leave namespace %s: %w", ns.name, err)
	}
	return true, fnErr
}
