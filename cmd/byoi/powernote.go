package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
)

// bootNote is what `byoi wait` says while a task waits for its machine to
// network-boot (the task is todo): what byoi did through the BMC to boot it,
// and how long the task has been waiting. key changes when the power action
// does (a new attempt, its end), not with the time.
type bootNote struct {
	key    string
	text   string
	waited time.Duration
}

// line is the note as printed, with the time waited so far.
func (n bootNote) line(machine string) string {
	return fmt.Sprintf("%s; waiting %s for %s to network-boot", n.text, n.waited.Round(time.Second), machine)
}

// noteSlack allows for the power note being stamped just before the task
// (both come from the server's clock).
const noteSlack = 2 * time.Second

// bootWaitNote describes m's power action for task t, or ok false when
// byoi recorded none for it (a server without power control, or before
// it started one).
func bootWaitNote(t boot.Task, m boot.Machine, now time.Time) (bootNote, bool) {
	n := m.LastPower
	if t.Status != boot.StatusTodo || n == nil || n.Start.Before(t.Created.Add(-noteSlack)) {
		return bootNote{}, false
	}
	via := "its BMC"
	if p := m.Power; p != nil && p.Driver != "" {
		via = p.Driver + " at " + p.Address
	}
	what := n.Action
	if n.Reason != "" {
		what += " (" + n.Reason + ")"
	}
	var text string
	switch {
	case n.Pending() && n.Error == "":
		text = fmt.Sprintf("power: %s via %s, in progress", what, via)
	case n.Pending():
		text = fmt.Sprintf("power: %s: attempt %d failed, retrying: %s", what, n.Attempts, n.Error)
	case n.Error != "" && strings.Contains(n.Error, "by hand"):
		text = "power: " + n.Error
	case n.Error != "":
		text = fmt.Sprintf("power: %s failed: %s; power-cycle %s by hand (network boot first)", what, n.Error, m.Name)
	default:
		text = fmt.Sprintf("power: %s sent via %s at %s", what, via, n.End.Local().Format(time.TimeOnly))
	}
	waited := max(now.Sub(t.Created), 0)
	if t.Created.IsZero() {
		waited = max(now.Sub(n.Start), 0)
	}
	key := fmt.Sprintf("%s|%s|%d|%s|%v", what, n.Start, n.Attempts, n.Error, n.End)
	return bootNote{key: key, text: text, waited: waited}, true
}

// noteEvery is how often plain output repeats an unchanged note.
const noteEvery = time.Minute

// setNote gives the progress the machine's boot note for the next update
// (ok false: none). Plain output prints it when it changes and once a
// minute while it does not; the terminal block shows it under its header.
func (p *progress) setNote(n bootNote, ok bool) {
	if !ok {
		p.note = nil
		return
	}
	p.note = &n
}

// noteLines are the note's lines for the state t: for the terminal block
// always, for plain output only when due.
func (p *progress) noteLines(t boot.Task) []string {
	if p.note == nil || t.Status != boot.StatusTodo {
		return nil
	}
	line := "  " + p.note.line(t.Machine)
	if p.tty {
		return []string{line}
	}
	now := p.now()
	if p.note.key == p.noteKey && now.Sub(p.notePrinted) < noteEvery {
		return nil
	}
	p.noteKey, p.notePrinted = p.note.key, now
	return []string{line}
}

// bootNote asks for t's machine while t is todo and returns its boot note;
// a failed request gives none (the task poll reports server trouble).
func (a *apiClient) bootNote(ctx context.Context, t boot.Task) (bootNote, bool) {
	if t.Status != boot.StatusTodo || t.Machine == "" {
		return bootNote{}, false
	}
	var m machineView
	if _, err := a.do(ctx, "GET", apiPath("machines", t.Machine), nil, &m); err != nil {
		return bootNote{}, false
	}
	return bootWaitNote(t, m.Machine, time.Now())
}
