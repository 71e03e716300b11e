package http

import (
	nethttp "net/http"
	"strconv"
	"strings"

	"github.com/byoi/byoi/boot"
)

// Task listing limits of GET /api/v1/tasks.
const (
	DefaultTaskListLimit = 100
	MaxTaskListLimit     = 1000
)

// taskFilter is the query of GET /api/v1/tasks: ?machine=NAME,
// ?status=S[,S…] (a status, or "active" for init, todo and doing),
// ?limit=N.
type taskFilter struct {
	machine  string
	statuses map[boot.Status]bool
	limit    int
}

func parseTaskFilter(r *nethttp.Request) (taskFilter, error) {
	q := r.URL.Query()
	f := taskFilter{machine: q.Get("machine"), limit: DefaultTaskListLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxTaskListLimit {
			return f, errorf(nethttp.StatusBadRequest, "Invalid limit %s: a number from 1 to %d is expected", boot.Quote(v), MaxTaskListLimit)
		}
		f.limit = n
	}
	if v := q.Get("status"); v != "" {
		f.statuses = map[boot.Status]bool{}
		for _, s := range strings.Split(v, ",") {
			st := boot.Status(strings.TrimSpace(s))
			switch {
			case st == "active":
				f.statuses[boot.StatusInit], f.statuses[boot.StatusTodo], f.statuses[boot.StatusDoing] = true, true, true
			case st.Active() || st.Final():
				f.statuses[st] = true
			default:
				return f, errorf(nethttp.StatusBadRequest, "Invalid status %s: use active, %s", boot.Quote(string(st)), statusList(false))
			}
		}
	}
	return f, nil
}

func (f taskFilter) keep(t boot.Task) bool {
	return (f.machine == "" || t.Machine == f.machine) && (f.statuses == nil || f.statuses[t.Status])
}

// listAllTasks is GET /api/v1/tasks: tasks across machines, newest first.
func (s *Server) listAllTasks(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	f, err := parseTaskFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if f.machine != "" {
		if _, err := s.st.Machine(r.Context(), f.machine); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	ts, err := s.st.RecentTasks(r.Context(), f.limit, f.keep)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, redactAll(ts))
}
