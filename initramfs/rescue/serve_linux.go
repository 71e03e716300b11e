package rescue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// maxRestartWait bounds the pause between two starts of sshd; a run longer
// than stableRun resets it.
const (
	maxRestartWait = 30 * time.Second
	stableRun      = time.Minute
)

// Serve runs sshd in the foreground (-D -e, its log on Stderr) and starts it
// again whenever it exits. ready is called with sshd's PID every time a
// newly started sshd accepts TCP connections on 127.0.0.1:Port (it is not
// called for a run that exits before). Serve returns only when ctx ends (it
// then stops sshd and returns ctx's error) or when sshd cannot be started
// at all.
func (s System) Serve(ctx context.Context, ready func(pid int)) error {
	s = s.withDefaults()
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("rescue: %w", err)
	}
	defer null.Close()
	wait := s.RestartWait
	for {
		proc, err := os.StartProcess(s.SSHD, []string{s.SSHD, "-D", "-e", "-f", s.path(ConfigFile)},
			&os.ProcAttr{Dir: "/", Files: []*os.File{null, s.Stderr, s.Stderr}})
		if err != nil {
			return fmt.Errorf("rescue: start sshd: %w", err)
		}
		begin := time.Now()
		s.Log.Info("sshd started", "pid", proc.Pid, "port", s.Port)
		runCtx, endRun := context.WithCancel(ctx)
		go s.whenListening(runCtx, proc.Pid, ready)
		stop := context.AfterFunc(ctx, func() { _ = proc.Signal(unix.SIGTERM) })
		status, err := s.wait(proc)
		stop()
		endRun()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("rescue: wait for sshd: %w", err)
		}
		if time.Since(begin) > stableRun {
			wait = s.RestartWait
		}
		s.Log.Warn("sshd exited, starting it again", "pid", proc.Pid, "status", status, "after", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxRestartWait)
	}
}

// wait waits for proc to end. With ReapAll it waits for any child, so that
// orphans given to PID 1 are reaped too, until proc is the one that ended.
func (s System) wait(proc *os.Process) (string, error) {
	if !s.ReapAll {
		st, err := proc.Wait()
		if err != nil {
			return "", err
		}
		return st.String(), nil
	}
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", err
		}
		if pid == proc.Pid {
			_ = proc.Release()
			if ws.Signaled() {
				return "signal " + ws.Signal().String(), nil
			}
			return fmt.Sprintf("exit status %d", ws.ExitStatus()), nil
		}
	}
}

// whenListening calls ready(pid) once a TCP socket listens on Port, looking
// every 100 ms until ctx (this run of sshd) ends. It reads the kernel's
// socket tables instead of connecting: a probe connection would show in
// sshd's log as a failed client.
func (s System) whenListening(ctx context.Context, pid int, ready func(int)) {
	for {
		if listening(s.Port) {
			if ctx.Err() == nil && ready != nil {
				s.Log.Info("sshd accepts connections", "pid", pid, "port", s.Port)
				ready(pid)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// listening reports whether a TCP socket of this network namespace listens
// on port (IPv4 or IPv6), from /proc/net/tcp and /proc/net/tcp6.
func listening(port int) bool {
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err == nil && listensIn(string(b), port) {
			return true
		}
	}
	return false
}

// listensIn finds a line "sl local_address rem_address st …" whose local
// port (hex after the last ':') is port and state 0A (LISTEN).
func listensIn(table string, port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], want) && f[3] == "0A" {
			return true
		}
	}
	return false
}
