package bmc

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// VMLock is the file every QEMU run on the machine is serialised on.
const VMLock = "/tmp/byoi-vm.lock"

// LockVMs takes the shared VM lock and returns its release. When this
// process already holds it through an inherited descriptor (the test runs
// under `flock /tmp/byoi-vm.lock …`), it takes nothing: a second flock on a
// new descriptor would wait for ourselves.
func LockVMs() (release func(), err error) {
	if inheritedLock() {
		return func() {}, nil
	}
	f, err := os.OpenFile(VMLock, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("vm lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("vm lock %s: %w", VMLock, err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// inheritedLock reports whether one of this process's descriptors is the
// lock file.
func inheritedLock() bool {
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == VMLock {
			return true
		}
	}
	return false
}
