package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/bytesize"
	"github.com/byoi/byoi/server/web"
)

// progress renders successive states of one task. On a terminal it redraws
// a block (a header and one line per step, with a bar, bytes and rate for
// the running step); elsewhere it prints one plain line per change (task
// status, step status, every 10% of a step's bytes), so logs stay short and
// the output depends only on the states shown. Rates come from the steps'
// Updated times as the server stamped them, falling back to the local clock.
type progress struct {
	w   io.Writer
	tty bool
	now func() time.Time

	started bool
	status  boot.Status
	steps   map[boot.StepID]*stepTrack
	drawn   int // lines of the last terminal block
	cols    int // terminal width; 0: ask the terminal

	note      string    // what the task waits for, "" when nothing
	noteSince time.Time // since when (zero: no duration shown)
	noteShown string    // the note last printed (plain)
	noteAt    time.Time // when it was last printed (plain)
}

// noteRepeat is how often plain output repeats a note that stays the
// same, with how long it has lasted.
const noteRepeat = time.Minute

// setNote says what the task waits for now ("" for nothing): a line under
// the header on a terminal, a line when it changes (and every minute while
// it lasts) in plain output.
func (p *progress) setNote(note string, since time.Time) {
	p.note, p.noteSince = note, since
}

// noteText is the note with how long it has lasted: "…, 2m10s".
func (p *progress) noteText() string {
	if p.noteSince.IsZero() {
		return p.note
	}
	return fmt.Sprintf("%s, %s", p.note, p.now().Sub(p.noteSince).Round(time.Second))
}

// plainNote prints the note when it is new, or again each noteRepeat.
func (p *progress) plainNote() {
	if p.note == "" {
		p.noteShown = ""
		return
	}
	now := p.now()
	switch {
	case p.note != p.noteShown:
		fmt.Fprintf(p.w, "  %s\n", p.note)
		p.noteShown, p.noteAt = p.note, now
	case now.Sub(p.noteAt) >= noteRepeat:
		fmt.Fprintf(p.w, "  still: %s\n", p.noteText())
		p.noteAt = now
	}
}

type stepTrack struct {
	status boot.StepStatus
	first  sample // first sample seen while doing
	prev   sample
	rate   float64 // bytes per second, smoothed (terminal)
	decile int     // last 10% mark printed (plain)
}

type sample struct {
	at    time.Time
	bytes int64
}

// barWidth is the width of the terminal progress bar, in cells.
const barWidth = 24

func newProgress(w io.Writer, tty bool, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	return &progress{w: w, tty: tty, now: now, steps: map[boot.StepID]*stepTrack{}}
}

// isTerminal reports whether w is a terminal (not merely a character
// device: /dev/null is one of those).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth is the width of the terminal w writes to, or 0 when it is
// not a terminal or does not say.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return cols
}

// update renders t, the latest state of the task.
func (p *progress) update(t boot.Task) {
	if p.tty {
		p.track(t, nil)
		p.draw(t)
		return
	}
	changed := p.started && t.Status != p.status
	switch {
	case !p.started:
		fmt.Fprintf(p.w, "Task %d on %s: %s\n", t.ID, t.Machine, web.StatusText(t.Status))
	case changed && !t.Status.Final(): // before the steps it starts
		fmt.Fprintf(p.w, "Task %d: %s\n", t.ID, web.StatusText(t.Status))
	}
	p.plainNote()
	p.track(t, p.w)
	if changed && t.Status.Final() { // after the steps that ended it
		line := fmt.Sprintf("Task %d: %s", t.ID, web.StatusText(t.Status))
		if t.Message != "" {
			line += ": " + t.Message
		}
		fmt.Fprintln(p.w, line)
	}
	p.started, p.status = true, t.Status
}

// track follows every step's status and bytes; with plain != nil it prints
// the plain lines for what changed.
func (p *progress) track(t boot.Task, plain io.Writer) {
	for i, s := range t.Steps {
		tr := p.steps[s.ID]
		if tr == nil {
			tr = &stepTrack{status: boot.StepTodo}
			p.steps[s.ID] = tr
		}
		at := s.Updated
		if at.IsZero() && (s.Status == boot.StepDoing || s.Status != tr.status) {
			at = p.now() // a server that does not stamp steps
		}
		cur := sample{at: at, bytes: s.BytesDone}
		label := fmt.Sprintf("[%d/%d] %s", i+1, len(t.Steps), s.Comment)
		if s.Status == boot.StepDoing {
			if tr.status != boot.StepDoing {
				tr.first, tr.prev, tr.rate = cur, cur, 0
				if plain != nil {
					fmt.Fprintf(plain, "%s: doing\n", label)
				}
			} else if dt := cur.at.Sub(tr.prev.at).Seconds(); dt > 0 {
				r := float64(cur.bytes-tr.prev.bytes) / dt
				if tr.rate == 0 {
					tr.rate = r
				} else {
					tr.rate = 0.5*tr.rate + 0.5*r
				}
				tr.prev = cur
			}
			if plain != nil && s.BytesTotal > 0 {
				if d := int(10 * s.BytesDone / s.BytesTotal); d > tr.decile && d < 10 {
					tr.decile = d
					fmt.Fprintf(plain, "%s: %d%% (%s of %s%s)\n", label, 10*d, bytesize.Format(s.BytesDone), bytesize.Format(s.BytesTotal), averageRate(tr.first, cur, ", "))
				}
			}
		}
		if plain != nil && s.Status != tr.status {
			switch s.Status {
			case boot.StepDone:
				fmt.Fprintf(plain, "%s: done%s\n", label, doneDetail(tr, s, cur))
			case boot.StepError:
				fmt.Fprintf(plain, "%s: error: %s\n", label, s.Error)
			}
		}
		tr.status = s.Status
	}
}

// doneDetail is " (size in duration, rate)" for a finished step that moved
// bytes.
func doneDetail(tr *stepTrack, s boot.Step, cur sample) string {
	n := max(s.BytesDone, s.BytesTotal)
	if n == 0 {
		return ""
	}
	if tr.status != boot.StepDoing || !cur.at.After(tr.first.at) {
		return " (" + bytesize.Format(n) + ")"
	}
	d := cur.at.Sub(tr.first.at)
	return fmt.Sprintf(" (%s in %s%s)", bytesize.Format(n), d.Round(time.Second), averageRate(tr.first, sample{cur.at, n}, ", "))
}

// averageRate is sep + the rate between two samples, or "" when it cannot
// be known.
func averageRate(a, b sample, sep string) string {
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 || b.bytes <= a.bytes {
		return ""
	}
	return sep + humanRate(float64(b.bytes-a.bytes)/dt)
}

// draw redraws the terminal block for t: a header, a line per step, and
// under the running step a bar with bytes and rate. Lines are cut to the
// terminal's width so none wraps and the redraw stays aligned.
func (p *progress) draw(t boot.Task) {
	lines := []string{fmt.Sprintf("Task %d on %s: %s", t.ID, t.Machine, web.StatusText(t.Status))}
	if p.note != "" {
		lines = append(lines, "  "+p.noteText())
	}
	for _, s := range t.Steps {
		lines = append(lines, p.stepLines(s)...)
	}
	if t.Status.Final() && t.Message != "" && !slices.ContainsFunc(t.Steps, func(s boot.Step) bool { return s.Error == t.Message }) {
		lines = append(lines, "  "+t.Message)
	}
	cols := p.cols
	if cols == 0 {
		cols = terminalWidth(p.w)
	}
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", p.drawn) // to the start of the block
	}
	for _, l := range lines {
		if cols > 0 && len([]rune(l)) >= cols {
			l = string([]rune(l)[:cols-1])
		}
		b.WriteString("\x1b[2K" + l + "\n")
	}
	for i := len(lines); i < p.drawn; i++ { // the block shrank
		b.WriteString("\x1b[2K\n")
	}
	p.drawn = max(len(lines), p.drawn)
	io.WriteString(p.w, b.String())
}

// stepLines renders one step for the terminal block.
func (p *progress) stepLines(s boot.Step) []string {
	line := fmt.Sprintf("  %-5s  %s", s.Status, s.Comment)
	switch {
	case s.Status == boot.StepError:
		return []string{line, "         " + s.Error}
	case s.Status == boot.StepDoing && s.BytesTotal > 0:
		frac := min(float64(s.BytesDone)/float64(s.BytesTotal), 1)
		full := int(frac * barWidth)
		bar := fmt.Sprintf("         [%s%s] %3d%%  %s / %s", strings.Repeat("#", full), strings.Repeat(".", barWidth-full),
			int(frac*100), bytesize.Format(s.BytesDone), bytesize.Format(s.BytesTotal))
		if tr := p.steps[s.ID]; tr != nil && tr.rate > 0 {
			bar += "  " + humanRate(tr.rate)
		}
		return []string{line, bar}
	case s.Status == boot.StepDoing && s.BytesDone > 0:
		line += " (" + bytesize.Format(s.BytesDone) + ")"
	case s.Status == boot.StepDone && max(s.BytesDone, s.BytesTotal) > 0:
		line += " (" + bytesize.Format(max(s.BytesDone, s.BytesTotal)) + ")"
	}
	return []string{line}
}

func humanRate(bytesPerSecond float64) string {
	return bytesize.Format(int64(bytesPerSecond)) + "/s"
}
