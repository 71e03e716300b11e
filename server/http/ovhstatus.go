package http

import (
	"cmp"
	nethttp "net/http"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/gorilla/mux"
)

// msgNotInstalling answers install/status for a server that never had a task.
const msgNotInstalling = "Server is not being installed or reinstalled at the moment"

// ovhProgress is dedicated.server.InstallationProgressSteps; error is null
// unless the step failed. The bytes are byoi's addition, set on the
// running step only.
type ovhProgress struct {
	Comment    string  `json:"comment"`
	Status     string  `json:"status"`
	Error      *string `json:"error"`
	BytesDone  int64   `json:"bytesDone,omitempty"`
	BytesTotal int64   `json:"bytesTotal,omitempty"`
}

// ovhInstallStatus is dedicated.server.InstallationProgressStatus.
type ovhInstallStatus struct {
	ElapsedTime int64         `json:"elapsedTime"`
	Progress    []ovhProgress `json:"progress"`
}

// ovhInstallStatus shows the active task's steps or, when none is active,
// the latest task's (so that a failure stays visible).
func (s *Server) ovhInstallStatus(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	_, t, ok, handled := s.machineLatestTask(w, r)
	if handled {
		return
	}
	if !ok {
		writeError(w, nethttp.StatusNotFound, msgNotInstalling)
		return
	}
	writeJSON(w, nethttp.StatusOK, installStatus(t, s.cfg.Now()))
}

func installStatus(t boot.Task, now time.Time) ovhInstallStatus {
	out := ovhInstallStatus{Progress: make([]ovhProgress, 0, len(t.Steps))}
	start, end := t.StartDate, now
	if start.IsZero() {
		start = t.Created
	}
	if !t.DoneDate.IsZero() {
		end = t.DoneDate
	}
	if !start.IsZero() && end.After(start) {
		out.ElapsedTime = int64(end.Sub(start) / time.Second)
	}
	for _, st := range t.Steps {
		p := ovhProgress{Comment: st.Comment, Status: string(st.Status)}
		if st.Status == boot.StepError {
			msg := cmp.Or(st.Error, t.Message, "failed")
			p.Error = &msg
		}
		if st.Status == boot.StepDoing {
			p.BytesDone, p.BytesTotal = st.BytesDone, st.BytesTotal
		}
		out.Progress = append(out.Progress, p)
	}
	return out
}

// ovhBYOIPost starts a deployment from the oldest API; OVH answers null.
func (s *Server) ovhBYOIPost(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	name := mux.Vars(r)["serviceName"]
	if _, err := s.machine(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	spec, err := decodeBYOI(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.lc.Create(r.Context(), name, spec, lifecycle.FunctionReinstall); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, nil)
}

// byoiStatus is the answer of GET …/bringYourOwnImage: status "doing",
// "done" or "error", the running step or the failure as message, the
// image checksum asked for, and the server's name.
type byoiStatus struct {
	Checksum   string `json:"checksum"`
	Message    string `json:"message"`
	Servername string `json:"servername"`
	Status     string `json:"status"`
}

// ovhBYOIGet reports the latest deployment. A cancelled one was erased.
func (s *Server) ovhBYOIGet(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name, t, ok, handled := s.machineLatestTask(w, r)
	if handled {
		return
	}
	if !ok || t.Status == boot.StatusCancelled {
		writeError(w, nethttp.StatusNotFound, "No image deployment for server "+name)
		return
	}
	out := byoiStatus{Status: "doing", Message: t.Comment, Checksum: t.Spec.ImageCheckSum, Servername: name}
	switch {
	case t.Status == boot.StatusDone:
		out.Status = "done"
	case t.Status.Final():
		out.Status, out.Message = "error", t.Message
	default:
		for _, st := range t.Steps {
			if st.Status == boot.StepDoing {
				out.Message = st.Comment
			}
		}
	}
	writeJSON(w, nethttp.StatusOK, out)
}

// ovhBYOIDelete cancels the active deployment, if any (which also erases
// its status from GET), and puts the server in rescue mode, as OVH's
// guide says: it reboots into the rescue system (through its BMC, or by
// hand).
func (s *Server) ovhBYOIDelete(w nethttp.ResponseWriter, r *nethttp.Request, _ []byte) {
	name := mux.Vars(r)["serviceName"]
	if _, err := s.machine(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.lc.Rescue(r.Context(), name, "Cancelled by DELETE bringYourOwnImage"); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, nil)
}

// machineLatestTask reads the route's serviceName, checks the machine exists
// and returns its latest task (ok false when it has none). handled is true
// when an error was already answered.
func (s *Server) machineLatestTask(w nethttp.ResponseWriter, r *nethttp.Request) (name string, t boot.Task, ok, handled bool) {
	name = mux.Vars(r)["serviceName"]
	if _, err := s.machine(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return name, t, false, true
	}
	t, ok, err := s.latestTask(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return name, t, false, true
	}
	return name, t, ok, false
}
