package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/bytesize"
)

// page is what every template gets.
type page struct {
	Title    string
	Session  session
	LoggedIn bool
	CSRF     string // the form token: the session's, or the login form's
	Next     string
	Error    string
	Flash    string
	Live     string // the SSE view of the page: fleet, machine or tasks
	Name     string // machine of a machine page
	Power    bool   // the server has power control

	Fleet   []MachineSummary
	Machine *machineData
	Tasks   []taskRow
	Deploy  *deployData
	Confirm *confirmData
}

type machineData struct {
	Summary MachineSummary
	Task    *boot.Task // active, else latest
	Tasks   []taskRow
	Events  []boot.Event
}

type taskRow struct {
	boot.Task
	Sum TaskSummary
}

type confirmData struct {
	Question, Detail, Action, Button, Back string
	Fields                                 map[string]string
	Danger                                 bool
}

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.Local().Format("2006-01-02 15:04:05")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		d := time.Since(t).Round(time.Second)
		if d < time.Minute {
			return d.String() + " ago"
		}
		return d.Round(time.Minute).String() + " ago"
	},
	"status":       StatusText,
	"powerActions": func() []string { return PowerActions },
	"bytes":        bytesize.Format,
	"join":         strings.Join,
	"power": func(p *PowerView) string {
		if p == nil {
			return "—"
		}
		return p.State
	},
	"dash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
	"stepPercent": func(s boot.Step) int {
		if s.BytesTotal <= 0 {
			return 0
		}
		return int(min(100*s.BytesDone/s.BytesTotal, 100))
	},
	"statusClass": func(s boot.Status) string {
		switch {
		case s == boot.StatusDone:
			return "ok"
		case s == boot.StatusCustomerError || s == boot.StatusOVHError:
			return "bad"
		case s.Active():
			return "run"
		}
		return "off"
	},
}

func (u *UI) base(r *http.Request, title string) page {
	x := sessionFrom(r.Context())
	return page{Title: title, Session: x, LoggedIn: x.id != "", CSRF: x.csrf, Power: u.cfg.Power != nil, Flash: r.URL.Query().Get("done")}
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	p := u.base(r, "Error")
	p.Error = u.cfg.ErrorText(err)
	if errors.Is(err, boot.ErrNotFound) {
		status = http.StatusNotFound
	}
	u.render(w, status, "error.html", p)
}

func (u *UI) fleetPage(w http.ResponseWriter, r *http.Request) {
	p := u.base(r, "Fleet")
	fleet, err := Summarize(r.Context(), u.st, u.cfg.Power)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	p.Fleet, p.Live = fleet, "fleet"
	u.render(w, http.StatusOK, "fleet.html", p)
}

func (u *UI) machineData(r *http.Request, name string) (*machineData, error) {
	ctx := r.Context()
	m, err := u.st.Machine(ctx, name)
	if err != nil {
		return nil, err
	}
	ts, err := u.st.Tasks(ctx, name)
	if err != nil {
		return nil, err
	}
	d := &machineData{Summary: Summary(ctx, m, ts, u.cfg.Power)}
	for i := range ts {
		if d.Task == nil && ts[i].Status.Active() {
			d.Task = &ts[i]
		}
		if i < 20 {
			d.Tasks = append(d.Tasks, taskRow{ts[i], SummarizeTask(ts[i])})
		}
	}
	if d.Task == nil && len(ts) > 0 {
		d.Task = &ts[0]
	}
	if d.Events, err = u.st.Events(ctx, name, u.cfg.EventsShown); err != nil {
		return nil, err
	}
	slices.Reverse(d.Events) // newest first
	return d, nil
}

func (u *UI) machinePage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, err := u.machineData(r, name)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	p := u.base(r, name)
	p.Machine, p.Live, p.Name = d, "machine", name
	u.render(w, http.StatusOK, "machine.html", p)
}

func (u *UI) taskRows(r *http.Request) ([]taskRow, error) {
	ts, err := u.st.RecentTasks(r.Context(), 200, nil)
	if err != nil {
		return nil, err
	}
	rows := make([]taskRow, len(ts))
	for i, t := range ts {
		rows[i] = taskRow{t, SummarizeTask(t)}
	}
	return rows, nil
}

func (u *UI) tasksPage(w http.ResponseWriter, r *http.Request) {
	rows, err := u.taskRows(r)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	p := u.base(r, "Tasks")
	p.Tasks, p.Live = rows, "tasks"
	u.render(w, http.StatusOK, "tasks.html", p)
}

func taskIDOf(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("invalid task id %s: %w", boot.Quote(r.PathValue("id")), boot.ErrNotFound)
	}
	return id, nil
}

// CancelledFromUI is the message of a task cancelled from the web UI.
const CancelledFromUI = "Cancelled by an operator"

func (u *UI) cancelForm(w http.ResponseWriter, r *http.Request) {
	id, err := taskIDOf(r)
	if err != nil {
		u.fail(w, r, http.StatusNotFound, err)
		return
	}
	t, err := u.st.Task(r.Context(), id)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	p := u.base(r, "Cancel task")
	p.Confirm = &confirmData{
		Question: fmt.Sprintf("Cancel task %d on %s?", t.ID, t.Machine),
		Detail:   fmt.Sprintf("It is %s. A running installer stops at its next report; the machine then does not boot its disk.", StatusText(t.Status)),
		Action:   fmt.Sprintf("/ui/tasks/%d/cancel", t.ID), Button: "Cancel the task", Danger: true, Back: "/ui/machines/" + pathEscape(t.Machine),
	}
	u.render(w, http.StatusOK, "confirm.html", p)
}

func (u *UI) cancel(w http.ResponseWriter, r *http.Request) {
	id, err := taskIDOf(r)
	if err != nil {
		u.fail(w, r, http.StatusNotFound, err)
		return
	}
	t, err := u.lc.Cancel(r.Context(), id, CancelledFromUI)
	if err != nil {
		u.fail(w, r, http.StatusConflict, err)
		return
	}
	u.log.Info("web: task cancelled", "task", t.ID, "machine", t.Machine, "who", sessionFrom(r.Context()).who)
	http.Redirect(w, r, "/ui/machines/"+pathEscape(t.Machine)+"?done="+fmt.Sprintf("Task+%d+cancelled.", t.ID), http.StatusSeeOther)
}

func (u *UI) powerForm(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	if u.cfg.Power == nil || !slices.Contains(PowerActions, action) {
		u.fail(w, r, http.StatusNotFound, fmt.Errorf("no power action %s here: %w", boot.Quote(action), boot.ErrNotFound))
		return
	}
	if _, err := u.st.Machine(r.Context(), name); err != nil {
		u.fail(w, r, http.StatusNotFound, err)
		return
	}
	p := u.base(r, "Power")
	p.Confirm = &confirmData{
		Question: fmt.Sprintf("%s %s?", strings.ToUpper(action[:1])+action[1:], name),
		Detail:   "Through the machine's BMC. Whatever runs on it now stops.",
		Action:   "/ui/machines/" + pathEscape(name) + "/power/" + action, Button: strings.ToUpper(action[:1]) + action[1:], Danger: true, Back: "/ui/machines/" + pathEscape(name),
	}
	u.render(w, http.StatusOK, "confirm.html", p)
}

func (u *UI) power(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	if u.cfg.Power == nil || !slices.Contains(PowerActions, action) {
		u.fail(w, r, http.StatusNotFound, fmt.Errorf("no power action %s here: %w", boot.Quote(action), boot.ErrNotFound))
		return
	}
	m, err := u.st.Machine(r.Context(), name)
	if err != nil {
		u.fail(w, r, http.StatusNotFound, err)
		return
	}
	if err := u.cfg.Power.PowerAction(r.Context(), m, action); err != nil {
		u.fail(w, r, http.StatusBadGateway, err)
		return
	}
	u.log.Info("web: power action", "machine", name, "action", action, "who", sessionFrom(r.Context()).who)
	http.Redirect(w, r, "/ui/machines/"+pathEscape(name)+"?done="+action+"+requested.", http.StatusSeeOther)
}

func pathEscape(s string) string { return strings.ReplaceAll(template.URLQueryEscaper(s), "+", "%20") }
