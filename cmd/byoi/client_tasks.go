package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/web"
	"github.com/urfave/cli/v2"
)

// machineView is GET /api/v1/machines/{name}: the machine, its active task
// and its recent events.
type machineView struct {
	boot.Machine
	ActiveTask *boot.Task   `json:"activeTask"`
	Events     []boot.Event `json:"events"`
	State      string       `json:"state"`
	// PowerSummary is the power state as in the machine list; the
	// machine's "power" is its BMC settings (boot.Machine.Power).
	PowerSummary *web.PowerView `json:"powerSummary"`
}

// currentTask returns the machine's active task or, when it has none, its
// latest one.
func (a *apiClient) currentTask(ctx context.Context, name string) (boot.Task, error) {
	var m machineView
	if _, err := a.do(ctx, "GET", apiPath("machines", name), nil, &m); err != nil {
		return boot.Task{}, err
	}
	if m.ActiveTask != nil {
		return *m.ActiveTask, nil
	}
	var ts []boot.Task
	if _, err := a.do(ctx, "GET", apiPath("machines", name, "tasks"), nil, &ts); err != nil {
		return boot.Task{}, err
	}
	if len(ts) == 0 {
		return boot.Task{}, fmt.Errorf("machine %s has no task yet: start one with `byoi deploy %s …`", name, name)
	}
	latest := ts[0]
	for _, t := range ts[1:] {
		if t.ID > latest.ID {
			latest = t
		}
	}
	return latest, nil
}

// currentTaskAction is machineAction for commands about the machine's
// active (or latest) task: fn gets that task.
func currentTaskAction(fn func(c *cli.Context, api *apiClient, t boot.Task) error) cli.ActionFunc {
	return machineAction(func(c *cli.Context, api *apiClient, name string) error {
		t, err := api.currentTask(c.Context, name)
		if err != nil {
			return err
		}
		return fn(c, api, t)
	})
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show a machine's active (or latest) task and its steps",
		ArgsUsage: "NAME",
		Flags:     withClientFlags(),
		Action: currentTaskAction(func(c *cli.Context, api *apiClient, t boot.Task) error {
			if api.json {
				return printJSON(c.App.Writer, nil, t)
			}
			printTask(c.App.Writer, t)
			return nil
		}),
	}
}

// printTask shows a task and its steps as text.
func printTask(w io.Writer, t boot.Task) {
	fmt.Fprintf(w, "Task %d on %s: %s\n", t.ID, t.Machine, web.StatusText(t.Status))
	if t.Message != "" {
		fmt.Fprintf(w, "  %s\n", t.Message)
	}
	fmt.Fprintf(w, "  image: %s (%s)\n", t.Spec.ImageURL, t.Spec.ImageType)
	fmt.Fprintf(w, "  created %s, started %s, last update %s, done %s\n",
		formatTime(t.Created), formatTime(t.StartDate), formatTime(t.LastUpdate), formatTime(t.DoneDate))
	p := newProgress(w, false, nil)
	for i, s := range t.Steps {
		for j, l := range p.stepLines(s) {
			if j == 0 {
				fmt.Fprintf(w, "  %d. %s\n", i+1, strings.TrimSpace(l))
			} else {
				fmt.Fprintf(w, "     %s\n", strings.TrimSpace(l))
			}
		}
	}
}

func waitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "how often to ask the server"},
		&cli.StringFlag{Name: "progress", Value: "auto", Usage: "bar (redrawn), plain (one line per change) or auto (bar on a terminal)"},
		&cli.DurationFlag{Name: "reconnect-timeout", Value: 10 * time.Minute, Usage: "how long to keep trying while the server does not answer"},
		&cli.BoolFlag{Name: "logs", Value: true, Usage: "print the output of the programs the installer runs (BYOLinux) as it comes; --logs=false hides it"},
	}
}

// waitOptions are the checked flags of wait and deploy --wait: checked
// before deploy creates anything.
type waitOptions struct {
	interval, reconnect time.Duration
	mode                string // bar, plain or auto
	logs                bool   // print the task's log as it grows
}

func waitOptionsFrom(c *cli.Context) (waitOptions, error) {
	o := waitOptions{interval: c.Duration("interval"), reconnect: c.Duration("reconnect-timeout"), mode: c.String("progress"), logs: c.Bool("logs")}
	if o.interval <= 0 {
		return o, fmt.Errorf("--interval %s: must be positive", o.interval)
	}
	if o.reconnect <= 0 {
		return o, fmt.Errorf("--reconnect-timeout %s: must be positive", o.reconnect)
	}
	switch o.mode {
	case "auto", "bar", "plain":
	default:
		return o, fmt.Errorf("--progress %q: use auto, bar or plain", o.mode)
	}
	return o, nil
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "follow a machine's active (or latest) task until it ends; fails unless it ends done",
		ArgsUsage: "NAME",
		Flags:     withClientFlags(waitFlags()...),
		Action: clientAction(func(c *cli.Context, args []string) error {
			name, err := oneArg(c, args, "the machine name")
			if err != nil {
				return err
			}
			o, err := waitOptionsFrom(c)
			if err != nil {
				return err
			}
			api, err := newAPIClient(c)
			if err != nil {
				return err
			}
			t, err := api.currentTask(c.Context, name)
			if err != nil {
				return err
			}
			return api.follow(c, t.ID, o)
		}),
	}
}

// follow polls task id, rendering its progress and what it waits for,
// until it ends. The result is an error unless the task ends done.
func (a *apiClient) follow(c *cli.Context, id int64, o waitOptions) error {
	var p *progress
	var logs *logTail
	if !a.json {
		p = newProgress(c.App.Writer, o.mode == "bar" || o.mode == "auto" && isTerminal(c.App.Writer), nil)
		if o.logs {
			logs = newLogTail(a, id)
		}
	}
	t, err := a.poll(c.Context, id, o, func(t boot.Task, note string, since time.Time) {
		if p != nil {
			p.printAbove(logs.read(c.Context))
			p.setNote(note, since)
			p.update(t)
		}
	})
	if err != nil {
		return err
	}
	if a.json {
		if err := printJSON(c.App.Writer, nil, t); err != nil {
			return err
		}
	}
	return taskOutcome(t)
}

// poll asks for task id every interval, calling seen with each state and
// what the task waits for, until the task is final. While the server does
// not answer, seen says so (and since when) and polling goes on, up to
// the reconnect timeout.
func (a *apiClient) poll(ctx context.Context, id int64, o waitOptions, seen func(t boot.Task, note string, since time.Time)) (boot.Task, error) {
	path := apiPath("tasks", strconv.FormatInt(id, 10))
	var last boot.Task
	var down time.Time
	for {
		var t boot.Task
		_, err := a.do(ctx, "GET", path, nil, &t)
		var ae *apiError
		switch {
		case err == nil:
			down, last = time.Time{}, t
			note, since := a.waitingFor(ctx, t)
			seen(t, note, since)
			if t.Status.Final() {
				return t, nil
			}
		case errors.As(err, &ae) && ae.Status < 500, ctx.Err() != nil:
			return t, err
		default:
			if down.IsZero() {
				down = time.Now()
			}
			if time.Since(down) > o.reconnect {
				return t, fmt.Errorf("gave up after %s without an answer: %w", o.reconnect, err)
			}
			seen(last, fmt.Sprintf("byoi at %s does not answer (%s); retrying", a.base, shortError(err)), down)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-time.After(o.interval):
		}
	}
}

// waitingFor says what a task that has not started yet waits for, and
// since when: "" for a task that runs or ended.
func (a *apiClient) waitingFor(ctx context.Context, t boot.Task) (string, time.Time) {
	if t.Status != boot.StatusTodo && t.Status != boot.StatusInit {
		return "", time.Time{}
	}
	var v machineView
	if _, err := a.do(ctx, "GET", apiPath("machines", t.Machine), nil, &v); err == nil {
		if !v.LastSeen.IsZero() && !v.LastSeen.Before(t.Created) {
			return fmt.Sprintf("machine network-booted at %s; waiting for the installer to start", v.LastSeen.Local().Format("15:04:05")), v.LastSeen
		}
		// What byoi did through the BMC to boot it, if anything.
		if note, ok := powerWaitNote(t, v.Machine); ok {
			return note, t.Created
		}
	}
	return "machine has not PXE-booted yet (power it on or reset it, network boot first)", t.Created
}

// shortError is an error's last part: "connection refused", not the
// whole chain.
func shortError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// taskOutcome is nil for a task that ended done, else an error saying how
// it ended.
func taskOutcome(t boot.Task) error {
	if t.Status == boot.StatusDone {
		return nil
	}
	msg := fmt.Sprintf("task %d on %s ended %s", t.ID, t.Machine, web.StatusText(t.Status))
	if t.Message != "" {
		msg += ": " + t.Message
	}
	return errors.New(msg)
}

func cancelCommand() *cli.Command {
	return &cli.Command{
		Name:      "cancel",
		Usage:     "cancel a machine's active task",
		ArgsUsage: "NAME",
		Flags:     withClientFlags(),
		Action: currentTaskAction(func(c *cli.Context, api *apiClient, cur boot.Task) error {
			if !cur.Status.Active() {
				return fmt.Errorf("machine %s has no active task (its latest, %d, is %s)", cur.Machine, cur.ID, web.StatusText(cur.Status))
			}
			return exchange(c, api, "POST", apiPath("tasks", strconv.FormatInt(cur.ID, 10), "cancel"), nil, func(w io.Writer, t boot.Task) error {
				_, err := fmt.Fprintf(w, "Task %d on %s: %s\n", t.ID, t.Machine, web.StatusText(t.Status))
				return err
			})
		}),
	}
}

func tasksCommand() *cli.Command {
	return &cli.Command{
		Name:      "tasks",
		Usage:     "list tasks across machines (or of one machine), newest first",
		ArgsUsage: "[NAME]",
		Flags:     withClientFlags(tasksFlags()...),
		Action:    clientAction(tasksAction),
	}
}
