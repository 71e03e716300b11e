package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/urfave/cli/v2"
)

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:  "logs",
		Usage: "print the output of the programs a machine's installer ran (BYOLinux: mdadm, mkfs, make_image_bootable.sh)",
		Description: "Prints the log of the machine's active task, else of its latest one, or of --task ID.\n" +
			"With --follow, prints new lines as they come until the task ends, and fails unless it ends done.\n" +
			"Control characters in the output are shown as \uFFFD.",
		ArgsUsage: "NAME",
		Flags: withClientFlags(
			&cli.Int64Flag{Name: "task", Usage: "the task `ID` (one of the machine's; default: its active, else latest, task)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new lines until the task ends"},
			&cli.IntFlag{Name: "tail", Usage: "start with the last `N` lines only (default: all)"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "with --follow, how often to ask the server"},
			&cli.DurationFlag{Name: "reconnect-timeout", Value: 10 * time.Minute, Usage: "with --follow, how long to keep trying while the server does not answer"},
		),
		Action: machineAction(logsAction),
	}
}

func logsAction(c *cli.Context, api *apiClient, name string) error {
	o := logsOptions{follow: c.Bool("follow"), tail: c.Int("tail"), interval: c.Duration("interval"), reconnect: c.Duration("reconnect-timeout")}
	switch {
	case o.tail < 0 || o.tail > 5000:
		return fmt.Errorf("--tail %d: use 1 to 5000 (0: everything)", o.tail)
	case o.interval <= 0:
		return fmt.Errorf("--interval %s: must be positive", o.interval)
	case o.reconnect <= 0:
		return fmt.Errorf("--reconnect-timeout %s: must be positive", o.reconnect)
	}
	path := apiPath("machines", name, "log")
	if c.IsSet("task") {
		id := c.Int64("task")
		var t boot.Task
		if _, err := api.do(c.Context, "GET", apiPath("tasks", strconv.FormatInt(id, 10)), nil, &t); err != nil {
			return err
		}
		if t.Machine != name {
			return fmt.Errorf("task %d is not one of %s's: it is %s's", id, name, t.Machine)
		}
		path = apiPath("tasks", strconv.FormatInt(id, 10), "log")
	}
	p := &logPrinter{w: c.App.Writer, json: api.json, tail: o.tail > 0}
	return api.printLog(c.Context, path, o, p)
}

type logsOptions struct {
	follow              bool
	tail                int
	interval, reconnect time.Duration
}

// printLog prints the log at path (a task's or a machine's) window by
// window; with follow, it asks again from where it was until the task is
// final and every line was printed, and then says how the task ended.
func (a *apiClient) printLog(ctx context.Context, path string, o logsOptions, p *logPrinter) error {
	query := "?from=0"
	if o.tail > 0 {
		query = "?tail=" + strconv.Itoa(o.tail)
	}
	var down time.Time
	for {
		var l boot.TaskLog
		_, err := a.do(ctx, "GET", path+query+"&limit=5000", nil, &l)
		var ae *apiError
		switch {
		case err == nil:
			down = time.Time{}
			if err := p.print(l); err != nil {
				return err
			}
			// Later windows come from the task, whatever the machine's
			// latest task becomes meanwhile.
			path = apiPath("tasks", strconv.FormatInt(l.TaskID, 10), "log")
			query = "?from=" + strconv.FormatInt(l.Next, 10)
			if l.More {
				continue
			}
			if !o.follow {
				return nil
			}
			if l.Status.Final() {
				return taskEnded(l)
			}
		case errors.As(err, &ae) && ae.Status < 500, ctx.Err() != nil, !o.follow:
			return err
		default:
			if down.IsZero() {
				down = time.Now()
			}
			if time.Since(down) > o.reconnect {
				return fmt.Errorf("gave up after %s without an answer: %w", o.reconnect, err)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.interval):
		}
	}
}

// taskEnded is nil for a log whose task ended done, else an error saying
// how it ended.
func taskEnded(l boot.TaskLog) error {
	if l.Status == boot.StatusDone {
		return nil
	}
	return fmt.Errorf("task %d ended %s", l.TaskID, l.Status)
}

// logPrinter prints log lines as text (a header line when the program
// changes) or, with --output json, one JSON object per line.
type logPrinter struct {
	w       io.Writer
	prefix  string // before each line of text
	json    bool
	tail    bool   // the first window is a tail: lines before it are skipped, not dropped
	printed bool   // a line was printed
	next    int64  // index of the line after the last one printed
	stream  string // stream of the last line printed
}

// dropNote says lines were deleted before they could be printed.
const dropNote = "[%d %s dropped: a task keeps the last 20000 lines or 8 MiB of its log]\n"

func (p *logPrinter) print(l boot.TaskLog) error {
	if len(l.Lines) == 0 {
		return nil
	}
	first := l.Lines[0].Index
	if !p.json {
		var err error
		switch {
		case p.printed && first > p.next:
			_, err = fmt.Fprintf(p.w, p.prefix+dropNote, first-p.next, "lines were")
		case !p.printed && !p.tail && first > 0:
			_, err = fmt.Fprintf(p.w, p.prefix+dropNote, first, "earlier lines were")
		}
		if err != nil {
			return err
		}
	}
	for _, line := range l.Lines {
		if p.json {
			b, err := json.Marshal(line)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(p.w, "%s\n", b); err != nil {
				return err
			}
			continue
		}
		if line.Stream != "byoi" && (!p.printed || line.Stream != p.stream) {
			p.stream = line.Stream
			if _, err := fmt.Fprintf(p.w, "%s==> %s (%s) <==\n", p.prefix, printable(orDash(line.Stream)), printable(string(line.Step))); err != nil {
				return err
			}
		}
		p.printed = true
		if _, err := fmt.Fprintln(p.w, p.prefix+printable(line.Text)); err != nil {
			return err
		}
	}
	p.printed, p.next = true, l.Lines[len(l.Lines)-1].Index+1
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable replaces control characters (a terminal's escape sequences
// among them) with U+FFFD, keeping tabs: the text is the installed image's
// script's, and must not drive the operator's terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f) {
			return '\uFFFD'
		}
		return r
	}, s)
}

// logTail reads the lines a task's log gained since the last read, for
// byoi wait. A server without log routes (404) is not asked again; other
// errors leave the lines for the next read.
type logTail struct {
	a   *apiClient
	id  int64
	buf strings.Builder
	p   *logPrinter
	off bool
}

func newLogTail(a *apiClient, id int64) *logTail {
	l := &logTail{a: a, id: id}
	l.p = &logPrinter{w: &l.buf, prefix: "  | "}
	return l
}

// read returns the new lines as text ("" when none, or l is nil).
func (l *logTail) read(ctx context.Context) string {
	if l == nil || l.off {
		return ""
	}
	l.buf.Reset()
	for {
		var tl boot.TaskLog
		path := apiPath("tasks", strconv.FormatInt(l.id, 10), "log") + "?limit=5000&from=" + strconv.FormatInt(l.p.next, 10)
		_, err := l.a.do(ctx, "GET", path, nil, &tl)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == 404 {
			l.off = true
		}
		if err != nil || l.p.print(tl) != nil || !tl.More {
			return l.buf.String()
		}
	}
}
