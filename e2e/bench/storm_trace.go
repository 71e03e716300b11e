package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// tracer is one storm client's timeline: what it sent and received, in
// seconds since the storm began. Only the client's own goroutine writes it.
type tracer struct {
	t0     time.Time
	events []traceEvent
}

type traceEvent struct {
	At   float64 `json:"at"`
	What string  `json:"what"`
}

// clientTrace is the timeline of one client as the storm role prints it.
type clientTrace struct {
	MAC     string       `json:"mac"`
	Seconds float64      `json:"seconds"`
	Err     string       `json:"err,omitempty"`
	Events  []traceEvent `json:"events"`
}

// note records an event; a nil tracer records nothing.
func (t *tracer) note(format string, args ...any) {
	if t == nil {
		return
	}
	t.events = append(t.events, traceEvent{At: time.Since(t.t0).Seconds(), What: fmt.Sprintf(format, args...)})
}

// count returns how many events start with prefix.
func (t *tracer) count(prefix string) int {
	n := 0
	for _, e := range t.events {
		if strings.HasPrefix(e.What, prefix) {
			n++
		}
	}
	return n
}

// slowest returns the timelines of the k clients that took longest.
func slowest(clients []*stormClient, durations []float64, errs []error, k int) []clientTrace {
	var out []clientTrace
	for i, c := range clients {
		ct := clientTrace{MAC: c.mac.String(), Seconds: durations[i], Events: c.trace.events}
		if errs[i] != nil {
			ct.Err = errs[i].Error()
		}
		out = append(out, ct)
	}
	slices.SortFunc(out, func(a, b clientTrace) int { return cmp.Compare(b.Seconds, a.Seconds) })
	return out[:min(k, len(out))]
}

// writeTrace saves a run's slowest timelines and counters as JSON.
func writeTrace(path string, r stormResult) error {
	b, err := json.MarshalIndent(struct {
		Start       time.Time     `json:"start"`
		Seconds     float64       `json:"seconds"`
		Discovers   map[int]int   `json:"discovers"`
		TFTPResends int           `json:"tftpResends"`
		Slowest     []clientTrace `json:"slowest"`
	}{r.Start, r.Seconds, r.Discovers, r.TFTPResends, r.Slowest}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
