package http

import (
	"context"
	"errors"
	nethttp "net/http"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/gorilla/mux"
)

// The installer's agent API: decode, hand to the lifecycle with the hash of
// the bearer token, encode. The lifecycle checks the token against the
// task inside the transaction that changes it; nothing but the store is
// consulted, so a restarted server accepts an installer that was running.

func (s *Server) agentRoutes(r *mux.Router) {
	r.Handle(agentapi.PathTask, s.agentAuthed(s.agentTask)).Methods(nethttp.MethodGet)
	r.Handle(agentapi.PathProgress, s.agentAuthed(s.agentProgress)).Methods(nethttp.MethodPost)
	r.Handle(agentapi.PathDone, s.agentAuthed(s.agentDone)).Methods(nethttp.MethodPost)
	r.Handle(agentapi.PathError, s.agentAuthed(s.agentFailure)).Methods(nethttp.MethodPost)
	r.Handle(agentapi.PathRescue, s.tokenAuthed(s.lc.AuthorizeRescue, s.rescueConfig)).Methods(nethttp.MethodGet)
	r.Handle(agentapi.PathRescueReady, s.tokenAuthed(s.lc.AuthorizeRescue, s.rescueReady)).Methods(nethttp.MethodPost)
}

// agentHandler handles an agent call; hash is the SHA-256 of its token.
type agentHandler func(w nethttp.ResponseWriter, r *nethttp.Request, hash string, body []byte)

func agentFail(w nethttp.ResponseWriter, status int, msg string) {
	writeJSON(w, status, agentapi.Error{Message: msg})
}

// agentAuthed checks an installer token before it reads the body.
func (s *Server) agentAuthed(h agentHandler) nethttp.Handler {
	return s.tokenAuthed(s.lc.Authorize, h)
}

// tokenAuthed checks the bearer token with authorize before it reads the
// body (size-limited): a request without a live token is answered from
// its headers alone.
func (s *Server) tokenAuthed(authorize func(context.Context, string) error, h agentHandler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			closeUnread(w, r)
			agentFail(w, nethttp.StatusUnauthorized, "missing bearer token")
			return
		}
		hash := lifecycle.HashToken(token)
		if err := authorize(r.Context(), hash); err != nil {
			closeUnread(w, r)
			s.agentError(w, r, err)
			return
		}
		body, err := s.readBody(w, r)
		if err != nil {
			var he *httpError
			errors.As(err, &he)
			agentFail(w, he.status, he.msg)
			return
		}
		h(w, r, hash, body)
	})
}

// agentError answers a lifecycle error in the agent API's shape.
func (s *Server) agentError(w nethttp.ResponseWriter, r *nethttp.Request, err error) {
	switch lifecycle.KindOf(err) {
	case lifecycle.KindToken:
		agentFail(w, nethttp.StatusUnauthorized, "invalid or expired token")
	case lifecycle.KindBadReport:
		agentFail(w, nethttp.StatusBadRequest, err.Error())
	default:
		s.log.Error("agent call failed", "path", r.URL.Path, "err", err)
		agentFail(w, nethttp.StatusInternalServerError, "internal server error")
	}
}

func decodeAgent(w nethttp.ResponseWriter, body []byte, v any) bool {
	if err := decodeStrict(body, v); err != nil {
		var he *httpError
		errors.As(err, &he)
		agentFail(w, he.status, he.msg)
		return false
	}
	return true
}

// agentTask hands the installer its task, secrets included, and marks the
// task doing.
func (s *Server) agentTask(w nethttp.ResponseWriter, r *nethttp.Request, hash string, _ []byte) {
	t, m, err := s.lc.Start(r.Context(), hash)
	if err != nil {
		s.agentError(w, r, err)
		return
	}
	out := agentapi.Task{ID: t.ID, Machine: t.Machine, Spec: t.Spec, Disk: m.Disk, Network: s.bootNIC(m)}
	if g, ok := m.DiskGroups[t.Spec.DiskGroupID]; ok && t.Spec.DiskGroupID != 0 {
		out.Disk = g
	}
	for _, st := range t.Steps {
		out.Steps = append(out.Steps, st.ID)
	}
	writeJSON(w, nethttp.StatusOK, out)
}

func (s *Server) agentProgress(w nethttp.ResponseWriter, r *nethttp.Request, hash string, body []byte) {
	var p agentapi.Progress
	if !decodeAgent(w, body, &p) {
		return
	}
	if err := s.lc.Progress(r.Context(), hash, p); err != nil {
		s.agentError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// agentDone ends the task successfully; the machine's boot mode changes in
// the same transaction.
func (s *Server) agentDone(w nethttp.ResponseWriter, r *nethttp.Request, hash string, body []byte) {
	var d agentapi.Done
	if !decodeAgent(w, body, &d) {
		return
	}
	if _, _, err := s.lc.Finish(r.Context(), hash, d); err != nil {
		s.agentError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// agentFailure ends the task in error; the machine's boot mode is untouched.
func (s *Server) agentFailure(w nethttp.ResponseWriter, r *nethttp.Request, hash string, body []byte) {
	var f agentapi.Failure
	if !decodeAgent(w, body, &f) {
		return
	}
	if _, err := s.lc.Fail(r.Context(), hash, f); err != nil {
		s.agentError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// rescueConfig hands the rescue system its SSH keys.
func (s *Server) rescueConfig(w nethttp.ResponseWriter, r *nethttp.Request, hash string, _ []byte) {
	out, err := s.lc.RescueConfig(r.Context(), hash)
	if err != nil {
		s.agentError(w, r, err)
		return
	}
	writeJSON(w, nethttp.StatusOK, out)
}

// rescueReady records where the rescue system answers SSH.
func (s *Server) rescueReady(w nethttp.ResponseWriter, r *nethttp.Request, hash string, body []byte) {
	var rr agentapi.RescueReady
	if !decodeAgent(w, body, &rr) {
		return
	}
	if _, err := s.lc.RescueReady(r.Context(), hash, rr); err != nil {
		s.agentError(w, r, err)
		return
	}
	w.WriteHeader(nethttp.StatusNoContent)
}

// bootNIC describes the machine's boot interface for network_data.json:
// its fixed address when byoi's DHCP hands it out, else DHCP. The agent
// puts in the MAC it booted from.
func (s *Server) bootNIC(m boot.Machine) *agentapi.Network {
	n := &agentapi.Network{Mode: agentapi.NetworkDHCP}
	if len(m.MACs) > 0 {
		n.MAC = m.MACs[0]
	}
	if nw := s.cfg.Network; nw.FullDHCP && m.IPv4 != "" && nw.Prefix > 0 {
		n.Mode, n.Address, n.Prefix, n.Gateway, n.DNS = agentapi.NetworkStatic, m.IPv4, nw.Prefix, nw.Router, nw.DNS
	}
	return n
}
