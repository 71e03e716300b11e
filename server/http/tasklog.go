package http

import (
	nethttp "net/http"
	"strconv"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/gorilla/mux"
)

// Task logs: the output of the programs an installer runs (BYOLinux's
// make_image_bootable.sh), sent by the agent in numbered batches and read
// by operators a window at a time.
//
//	POST /agent/v1/log                       ← agentapi.Log (204)
//	GET  /api/v1/tasks/{id}/log?from=N       → boot.TaskLog
//	GET  /api/v1/machines/{name}/log?tail=N  → boot.TaskLog of its active, else latest, task

// Window limits of the log routes.
const (
	DefaultLogLimit = 1000
	MaxLogLimit     = 5000
)

func (s *Server) agentLog(w nethttp.ResponseWriter, r *nethttp.Request, hash string, body []byte) {
	var lg agentapi.Log
	if !decodeAgent(w, body, &lg) {
		return
	}
	if _, err := s.lc.AppendLog(r.Context(), hash, lg); err != nil {
		s.agentError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// logQuery is ?from=N (the first index wanted; 0 by default), or ?tail=N
// (the last N lines), and ?limit=N (at most N lines, 1 to MaxLogLimit).
type logQuery struct {
	from  int64
	limit int
}

func parseLogQuery(r *nethttp.Request) (logQuery, error) {
	q := r.URL.Query()
	lq := logQuery{limit: DefaultLogLimit}
	num := func(name string, lo, hi int64) (int64, error) {
		n, err := strconv.ParseInt(q.Get(name), 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, errorf(nethttp.StatusBadRequest, "Invalid %s %s: a number from %d to %d is expected", name, boot.Quote(q.Get(name)), lo, hi)
		}
		return n, nil
	}
	if q.Has("limit") {
		n, err := num("limit", 1, MaxLogLimit)
		if err != nil {
			return lq, err
		}
		lq.limit = int(n)
	}
	switch {
	case q.Has("from") && q.Has("tail"):
		return lq, errorf(nethttp.StatusBadRequest, "Use from or tail, not both")
	case q.Has("from"):
		n, err := num("from", 0, 1<<53)
		if err != nil {
			return lq, err
		}
		lq.from = n
	case q.Has("tail"):
		n, err := num("tail", 1, MaxLogLimit)
		if err != nil {
			return lq, err
		}
		lq.from = -n
	}
	return lq, nil
}

func (s *Server) writeTaskLog(w nethttp.ResponseWriter, r *nethttp.Request, id int64, lq logQuery) {
	log, err := s.st.TaskLog(r.Context(), id, lq.from, lq.limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, log)
}

// getTaskLog is GET /api/v1/tasks/{id}/log.
func (s *Server) getTaskLog(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	id, err := taskID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lq, err := parseLogQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeTaskLog(w, r, id, lq)
}

// getMachineLog is GET /api/v1/machines/{name}/log: the log of the
// machine's active task, else of its latest one.
func (s *Server) getMachineLog(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name := mux.Vars(r)["name"]
	lq, err := parseLogQuery(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ts, err := s.st.Tasks(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(ts) == 0 {
		s.fail(w, r, errorf(nethttp.StatusNotFound, "Machine %s has no task yet", boot.Quote(name)))
		return
	}
	s.writeTaskLog(w, r, currentOf(ts).ID, lq)
}

// currentOf is the active task of ts (newest first), else the newest.
func currentOf(ts []boot.Task) boot.Task {
	for _, t := range ts {
		if t.Status.Active() {
			return t
		}
	}
	return ts[0]
}
