package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The reference tools are executed directly, never through a shell, so
// that no shell start-up is timed: a pipeline is its processes connected
// by pipes, timed from the first start to the last exit.

// stage is one process of a pipeline. tee, if set, is a second command
// that reads a copy of the stream: the stage is then `tee /dev/fd/3`
// with fd 3 connected to it (what `tee >(sha256sum)` does in a shell).
type stage struct {
	args []string
	tee  []string
	out  *os.File // the last stage's stdout, if not discarded (shown as 1<>NAME: written in place)
}

func (s stage) String() string {
	if s.tee != nil {
		return "tee >(" + strings.Join(s.tee, " ") + ")"
	}
	if s.out != nil {
		return strings.Join(s.args, " ") + " 1<>" + filepath.Base(s.out.Name())
	}
	return strings.Join(s.args, " ")
}

// pipelineLine is the shell equivalent of stages, for the report.
func pipelineLine(stages ...stage) string {
	parts := make([]string, len(stages))
	for i, s := range stages {
		parts[i] = s.String()
	}
	return strings.Join(parts, " | ")
}

// pipeline runs stages connected by pipes and returns the time from the
// first start to the last exit; the last stage's output is discarded.
// Any stage failing fails the pipeline, with its stderr.
func pipeline(ctx context.Context, stages ...stage) (time.Duration, error) {
	var cmds []*exec.Cmd
	var errs []*bytes.Buffer
	var closeAfterStart []io.Closer
	var prev io.Reader
	add := func(args []string, stdin io.Reader) *exec.Cmd {
		c := exec.CommandContext(ctx, args[0], args[1:]...)
		c.Stdin = stdin
		var b bytes.Buffer
		c.Stderr = &b
		cmds, errs = append(cmds, c), append(errs, &b)
		return c
	}
	for i, s := range stages {
		var c *exec.Cmd
		if s.tee != nil {
			r3, w3, err := os.Pipe()
			if err != nil {
				return 0, err
			}
			c = add([]string{"tee", "/dev/fd/3"}, prev)
			c.ExtraFiles = []*os.File{w3}
			side := add(s.tee, r3)
			side.Stdout = io.Discard
			closeAfterStart = append(closeAfterStart, r3, w3)
		} else {
			c = add(s.args, prev)
		}
		if i == len(stages)-1 {
			c.Stdout = io.Discard
			if s.out != nil {
				c.Stdout = s.out
			}
			continue
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		c.Stdout = pw
		prev = pr
		closeAfterStart = append(closeAfterStart, pr, pw)
	}
	t0 := time.Now()
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			for _, s := range cmds {
				if s.Process != nil {
					_ = s.Process.Kill()
					_ = s.Wait()
				}
			}
			return 0, fmt.Errorf("start %s: %w", c.Path, err)
		}
	}
	for _, f := range closeAfterStart { // the children hold their own copies
		f.Close()
	}
	var failed []error
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			failed = append(failed, fmt.Errorf("%s: %w: %s", strings.Join(c.Args, " "), err, strings.TrimSpace(errs[i].String())))
		}
	}
	d := time.Since(t0)
	if len(failed) > 0 {
		return 0, errors.Join(failed...)
	}
	return d, nil
}

// command runs one process directly and returns its wall time.
func command(ctx context.Context, args ...string) (time.Duration, error) {
	return pipeline(ctx, stage{args: args})
}
