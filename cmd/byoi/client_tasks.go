package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/urfave/cli/v2"
)

// machineView is GET /api/v1/machines/{name}: the machine, its active task
// and its recent events.
type machineView struct {
	boot.Machine
	ActiveTask *boot.Task   `json:"activeTask"`
	Events     []boot.Event `json:"events"`
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
	fmt.Fprintf(w, "Task %d on %s: %s\n", t.ID, t.Machine, t.Status)
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
	}
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name:      "wait",
		Usage:     "follow a machine's active (or latest) task until it ends; fails unless it ends done",
		ArgsUsage: "NAME",
		Flags:     withClientFlags(waitFlags()...),
		Action: currentTaskAction(func(c *cli.Context, api *apiClient, t boot.Task) error {
			return api.follow(c, t.ID)
		}),
	}
}

// follow polls task id, rendering its progress, until it ends. The result
// is an error unless the task ends done.
func (a *apiClient) follow(c *cli.Context, id int64) error {
	interval := c.Duration("interval")
	if interval <= 0 {
		return fmt.Errorf("--interval %s: must be positive", interval)
	}
	var p *progress
	if !a.json {
		switch mode := c.String("progress"); mode {
		case "auto":
			p = newProgress(c.App.Writer, isTerminal(c.App.Writer), nil)
		case "bar", "plain":
			p = newProgress(c.App.Writer, mode == "bar", nil)
		default:
			return fmt.Errorf("--progress %q: use auto, bar or plain", mode)
		}
	}
	t, err := a.poll(c.Context, id, interval, func(t boot.Task) {
		if p != nil {
			p.setNote(a.bootNote(c.Context, t))
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

// maxPollFailures is how many polls in a row may fail (a server restart)
// before waiting gives up.
const maxPollFailures = 30

// poll asks for task id every interval, calling seen with each state, until
// the task is final.
func (a *apiClient) poll(ctx context.Context, id int64, interval time.Duration, seen func(boot.Task)) (boot.Task, error) {
	path := apiPath("tasks", strconv.FormatInt(id, 10))
	failures := 0
	for {
		var t boot.Task
		_, err := a.do(ctx, "GET", path, nil, &t)
		var ae *apiError
		switch {
		case err == nil:
			failures = 0
			seen(t)
			if t.Status.Final() {
				return t, nil
			}
		case errors.As(err, &ae) && ae.Status < 500, ctx.Err() != nil:
			return t, err
		default:
			if failures++; failures >= maxPollFailures {
				return t, fmt.Errorf("giving up after %d failed polls: %w", failures, err)
			}
		}
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(interval):
		}
	}
}

// taskOutcome is nil for a task that ended done, else an error saying how
// it ended.
func taskOutcome(t boot.Task) error {
	if t.Status == boot.StatusDone {
		return nil
	}
	msg := fmt.Sprintf("task %d on %s ended %s", t.ID, t.Machine, t.Status)
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
				return fmt.Errorf("machine %s has no active task (its latest, %d, is %s)", cur.Machine, cur.ID, cur.Status)
			}
			return exchange(c, api, "POST", apiPath("tasks", strconv.FormatInt(cur.ID, 10), "cancel"), nil, func(w io.Writer, t boot.Task) error {
				_, err := fmt.Fprintf(w, "Task %d on %s: %s\n", t.ID, t.Machine, t.Status)
				return err
			})
		}),
	}
}

func tasksCommand() *cli.Command {
	return &cli.Command{
		Name:      "tasks",
		Usage:     "list a machine's tasks, newest first",
		ArgsUsage: "NAME",
		Flags:     withClientFlags(),
		Action: machineAction(func(c *cli.Context, api *apiClient, name string) error {
			tasksTable := table([]string{"ID", "STATUS", "IMAGE", "CREATED", "DONE", "MESSAGE"}, func(t boot.Task) []string {
				return []string{strconv.FormatInt(t.ID, 10), string(t.Status), t.Spec.ImageURL, formatTime(t.Created), formatTime(t.DoneDate), t.Message}
			})
			return exchange(c, api, "GET", apiPath("machines", name, "tasks"), nil, func(w io.Writer, ts []boot.Task) error {
				sort.Slice(ts, func(i, j int) bool { return ts[i].ID > ts[j].ID })
				return tasksTable(w, ts)
			})
		}),
	}
}
