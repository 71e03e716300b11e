package chroot

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Run prepares the chroot, runs the script and cleans up.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Root == "" {
		return Result{}, errors.New("chroot: no root given")
	}
	if o.Script == "" {
		o.Script = DefaultScript
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if err := CheckScript(o.Root, o.Script); err != nil {
		return Result{}, err
	}
	m := &mounts{root: o.Root}
	defer m.undo()
	if err := m.setup(o); err != nil {
		return Result{}, err
	}
	res, err := run(ctx, o)
	killInside(o.Root)
	return res, err
}

// CheckScript refuses a missing or non-executable script (script is the
// path inside root). Run calls it first; the installer calls it on the
// image before touching any disk.
func CheckScript(root, script string) error {
	fi, err := os.Lstat(filepath.Join(root, script))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: %w", script, ErrNoScript)
	case err != nil:
		return fmt.Errorf("%s: %w", script, err)
	case fi.Mode()&os.ModeSymlink != 0:
		return nil // resolved inside the chroot by exec
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file: %w", script, ErrNotExecutable)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s (mode %s): %w", script, fi.Mode().Perm(), ErrNotExecutable)
	}
	return nil
}

// run starts the script and reads its output until it ends or times out.
func run(ctx context.Context, o Options) (Result, error) {
	start := time.Now()
	pr, pw, err := os.Pipe()
	if err != nil {
		return Result{}, err
	}
	defer pr.Close()
	cmd := exec.Command(o.Script)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
		"LANG=C.UTF-8", "TERM=dumb", "DEBIAN_FRONTEND=noninteractive", "SHELL=/bin/sh"}, o.Env...)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: o.Root, Setpgid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return Result{}, fmt.Errorf("start %s in %s: %w (is its interpreter, e.g. /bin/sh or /bin/bash, in the image?)", o.Script, o.Root, err)
	}
	pw.Close()
	lines := make(chan readResult, 1)
	go func() { lines <- readLines(pr, o.Output) }()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timer := time.NewTimer(o.Timeout)
	defer timer.Stop()
	var werr error
	timedOut, ended := false, false
	select {
	case werr = <-waited:
		ended = true
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
	}
	if !ended {
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		werr = <-waited
	}
	// Children that outlive the script may hold the pipe: give them a
	// moment, then kill its process group.
	var rr readResult
	select {
	case rr = <-lines:
	case <-time.After(5 * time.Second):
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		pr.Close()
		rr = <-lines
	}
	res := Result{Lines: rr.n, Tail: rr.tail, Duration: time.Since(start), ExitCode: cmd.ProcessState.ExitCode()}
	switch {
	case timedOut:
		return res, &TimeoutError{After: o.Timeout, Tail: rr.tail}
	case !ended:
		return res, ctx.Err()
	case werr != nil:
		e := &ExitError{Code: res.ExitCode, Tail: rr.tail}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal().String()
		}
		return res, e
	}
	return res, nil
}

type readResult struct {
	n    int64
	tail []string
}

// readLines passes each line on and keeps the last TailLines.
func readLines(r io.Reader, out func(string)) readResult {
	br := bufio.NewReaderSize(r, 64<<10)
	var res readResult
	for {
		line, err := readLine(br)
		if line != "" || err == nil {
			res.n++
			res.tail = append(res.tail, line)
			if len(res.tail) > TailLines {
				res.tail = res.tail[1:]
			}
			if out != nil {
				out(line)
			}
		}
		if err != nil {
			return res
		}
	}
}

// readLine reads one line, cutting it at MaxLine bytes (the rest of a long
// line is dropped) and turning invalid UTF-8 into U+FFFD.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(b) < MaxLine {
			b = append(b, chunk[:min(len(chunk), MaxLine-len(b))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		s := strings.TrimRight(string(b), "\r\n")
		if len(b) >= MaxLine && !strings.HasSuffix(string(b), "\n") {
			s += "…"
		}
		return strings.ToValidUTF8(s, "\uFFFD"), err
	}
}

// killInside kills every process whose root directory is the target
// (daemons the script started), so that the file systems can be unmounted.
func killInside(root string) {
	want, err := filepath.EvalSymlinks(root)
	if err != nil {
		return
	}
	for range 3 {
		found := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid := e.Name()
			if pid[0] < '0' || pid[0] > '9' {
				continue
			}
			if r, err := os.Readlink("/proc/" + pid + "/root"); err == nil && (r == want || strings.HasPrefix(r, want+"/")) {
				var n int
				fmt.Sscan(pid, &n)
				unix.Kill(n, unix.SIGKILL)
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
