package web

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// recheck is how often a live page checks its session's token again.
const recheck = 10 * time.Second

// events streams a page's live parts as server-sent events: each event
// (named after the element it replaces) carries the part rendered again
// by the same template as the page, sent when it changed. A session whose
// token stops working gets a "logout" event and the stream ends.
func (u *UI) events(w http.ResponseWriter, r *http.Request) {
	// Through middleware that wraps w (metrics), ResponseController finds
	// the flusher underneath.
	fl := http.NewResponseController(w)
	view, name := r.URL.Query().Get("view"), r.URL.Query().Get("name")
	switch view {
	case "fleet", "tasks", "machine":
	default:
		http.Error(w, "unknown view", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 2000\n\n")
	if err := fl.Flush(); err != nil {
		u.log.Error("web: events cannot be streamed", "err", err)
		return
	}

	last := map[string]string{}
	tick := time.NewTicker(u.cfg.Refresh)
	defer tick.Stop()
	checked := time.Now()
	for {
		parts, err := u.liveParts(r, view, name)
		if err != nil {
			u.log.Warn("web: live update", "view", view, "name", name, "err", err)
			parts = map[string]string{"error": u.cfg.ErrorText(err)}
		}
		for ev, html := range parts {
			if last[ev] == html {
				continue
			}
			last[ev] = html
			writeEvent(w, ev, html)
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if time.Since(checked) >= recheck {
			checked = time.Now()
			if _, ok := u.session(r); !ok {
				writeEvent(w, "logout", "")
				fl.Flush()
				return
			}
		}
	}
}

// liveParts renders the live parts of a view, by event name.
func (u *UI) liveParts(r *http.Request, view, name string) (map[string]string, error) {
	p := u.base(r, "")
	var parts map[string]string
	switch view {
	case "fleet":
		fleet, err := Summarize(r.Context(), u.st, u.cfg.Power)
		if err != nil {
			return nil, err
		}
		p.Fleet = fleet
		parts = map[string]string{"fleet": "fleet-rows"}
	case "tasks":
		rows, err := u.taskRows(r)
		if err != nil {
			return nil, err
		}
		p.Tasks = rows
		parts = map[string]string{"tasks": "task-rows"}
	case "machine":
		d, err := u.machineData(r, name)
		if err != nil {
			return nil, err
		}
		p.Machine, p.Name = d, name
		parts = map[string]string{"machine": "machine-live", "timeline": "machine-events", "history": "machine-tasks"}
	}
	out := map[string]string{}
	for ev, tmpl := range parts {
		var b bytes.Buffer
		if err := u.tmpl.ExecuteTemplate(&b, tmpl, p); err != nil {
			return nil, fmt.Errorf("render %s: %w", tmpl, err)
		}
		out[ev] = b.String()
	}
	return out, nil
}

// writeEvent writes one server-sent event; each line of data gets its own
// "data:" field.
func writeEvent(w http.ResponseWriter, name, data string) {
	var b strings.Builder
	b.WriteString("event: " + name + "\n")
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + strings.TrimRight(line, "\r") + "\n")
	}
	b.WriteString("\n")
	w.Write([]byte(b.String()))
}
