package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/bytesize"
	"github.com/byoi/byoi/server/web"
	"github.com/urfave/cli/v2"
)

// The fleet: `byoi machines list` and `byoi tasks` across machines.

func machinesListFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "redraw the list until interrupted"},
		&cli.DurationFlag{Name: "interval", Value: 2 * time.Second, Usage: "how often --watch asks the server"},
	}
}

var fleetTable = table([]string{"NAME", "STATE", "POWER", "PROGRESS", "IP", "LAST BOOT", "MACS"}, func(m web.MachineSummary) []string {
	return []string{m.Name, stateText(m), powerText(m.Power), progressText(m.Task), dash(m.IP), formatTime(m.LastSeen), strings.Join(m.MACs, ",")}
})

func stateText(m web.MachineSummary) string {
	if m.State == web.StateDiscovered {
		return "discovered (adopt it)"
	}
	return m.State
}

// powerText is the power column: "—" when the server has no power control.
func powerText(p *web.PowerView) string {
	if p == nil {
		return "—"
	}
	return p.State
}

// progressText is a task in a few words: "4/8 Writing image to disk 42%".
func progressText(t *web.TaskSummary) string {
	if t == nil {
		return "-"
	}
	switch {
	case t.Status == boot.StatusDoing && t.StepIndex > 0:
		s := fmt.Sprintf("%d/%d %s %d%%", t.StepIndex, t.Steps, t.Step, t.Percent)
		if t.BytesTotal > 0 {
			s += " (" + bytesize.Format(t.BytesDone) + " of " + bytesize.Format(t.BytesTotal) + ")"
		}
		return s
	case t.Status.Active():
		return fmt.Sprintf("task %d %s", t.ID, web.StatusText(t.Status))
	}
	return fmt.Sprintf("task %d %s", t.ID, web.StatusText(t.Status))
}

func machinesList(c *cli.Context, api *apiClient) error {
	interval := c.Duration("interval")
	if interval <= 0 {
		return fmt.Errorf("--interval %s: must be positive", interval)
	}
	if !c.Bool("watch") {
		return exchange(c, api, "GET", apiPath("machines"), nil, fleetTable)
	}
	if api.json {
		return fmt.Errorf("--watch redraws a table: it does not go with --output json")
	}
	w := c.App.Writer
	tty := isTerminal(w)
	var last []byte
	for {
		var ms []web.MachineSummary
		_, err := api.do(c.Context, "GET", apiPath("machines"), nil, &ms)
		var buf bytes.Buffer
		if err != nil {
			if c.Context.Err() != nil {
				return nil
			}
			fmt.Fprintf(&buf, "byoi at %s: %v (retrying every %s)\n", api.base, err, interval)
		} else if err := fleetTable(&buf, ms); err != nil {
			return err
		}
		if !bytes.Equal(buf.Bytes(), last) || tty {
			last = buf.Bytes()
			if tty {
				io.WriteString(w, "\x1b[H\x1b[2J") // home, clear
			}
			fmt.Fprintf(w, "%s  (every %s, Ctrl-C to stop)\n", time.Now().Format("15:04:05"), interval)
			w.Write(buf.Bytes())
			if !tty {
				fmt.Fprintln(w)
			}
		}
		select {
		case <-c.Context.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func tasksFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "status", Usage: "only tasks in these statuses (comma-separated: active, waiting, installing, done, failed, cancelled)"},
		&cli.IntFlag{Name: "limit", Value: 50, Usage: "at most this many tasks (1-1000)"},
	}
}

// statusQuery maps the CLI's status words to the API's.
func statusQuery(s string) (string, error) {
	words := map[string][]string{
		"active": {"active"}, "waiting": {"init", "todo"}, "installing": {"doing"}, "failed": {"customerError", "ovhError"},
		"done": {"done"}, "cancelled": {"cancelled"}, "init": {"init"}, "todo": {"todo"}, "doing": {"doing"},
		"customerError": {"customerError"}, "ovhError": {"ovhError"},
	}
	var out []string
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		api, ok := words[w]
		if !ok {
			names := []string{"active", "waiting", "installing", "done", "failed", "cancelled"}
			if s, ok := closest(w, names); ok {
				return "", fmt.Errorf("--status %q: unknown status (did you mean %s?)", w, s)
			}
			return "", fmt.Errorf("--status %q: use %s", w, strings.Join(names, ", "))
		}
		out = append(out, api...)
	}
	return strings.Join(out, ","), nil
}

func tasksAction(c *cli.Context, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("tasks: expected at most one argument, a machine name, got %d", len(args))
	}
	q := []string{"limit=" + strconv.Itoa(c.Int("limit"))}
	if n := c.Int("limit"); n < 1 || n > 1000 {
		return fmt.Errorf("--limit %d: use 1 to 1000", n)
	}
	if len(args) == 1 {
		q = append(q, "machine="+queryEscape(args[0]))
	}
	if s := c.String("status"); s != "" {
		st, err := statusQuery(s)
		if err != nil {
			return err
		}
		q = append(q, "status="+queryEscape(st))
	}
	api, err := newAPIClient(c)
	if err != nil {
		return err
	}
	t := table([]string{"ID", "MACHINE", "STATUS", "PROGRESS", "IMAGE", "CREATED", "DONE", "MESSAGE"}, func(t boot.Task) []string {
		sum := web.SummarizeTask(t)
		prog := "-"
		if t.Status == boot.StatusDoing || t.Status.Final() && t.Status != boot.StatusDone && sum.StepIndex > 0 {
			prog = fmt.Sprintf("%d/%d %s", sum.StepIndex, sum.Steps, sum.Step)
		}
		return []string{strconv.FormatInt(t.ID, 10), t.Machine, web.StatusText(t.Status), prog, t.Spec.ImageURL, formatTime(t.Created), formatTime(t.DoneDate), dash(t.Message)}
	})
	return exchange(c, api, "GET", apiPath("tasks")+"?"+strings.Join(q, "&"), nil, t)
}
