package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	nethttp "net/http"

	"github.com/byoi/byoi/boot"
	"github.com/gorilla/mux"
)

// Changing a machine. Both PUT and PATCH keep every field the body leaves
// out: PUT replaces each field it names as a whole (a "disk" object
// replaces the whole disk rule), PATCH is a JSON merge patch (RFC 7396:
// objects merge field by field, null resets a field). A new "serviceName"
// renames the machine; a discovered machine is adopted by either.

// patchMode says how a body is laid over a machine's fields.
type patchMode int

const (
	patchReplaceFields patchMode = iota // PUT
	patchMerge                          // PATCH (RFC 7396)
)

// inputOf is the operator-set fields of m, as a machineInput.
func inputOf(m boot.Machine) machineInput {
	var in machineInput
	raw, _ := json.Marshal(m) // boot.Machine always encodes
	_ = json.Unmarshal(raw, &in)
	in.MACs = append([]string(nil), m.MACs...)
	in.Disk, in.DiskGroups = m.Disk, m.DiskGroups
	return in
}

// overlay lays body over the machine's current fields and decodes the
// result strictly: an unknown field or a wrong type is a 400.
func overlay(current boot.Machine, body []byte, mode patchMode) (machineInput, error) {
	var patch map[string]json.RawMessage
	if err := decodeStrictValue(body, &patch); err != nil {
		return machineInput{}, err
	}
	if patch == nil {
		return machineInput{}, errorf(nethttp.StatusBadRequest, "Invalid JSON body: a JSON object of machine fields is expected")
	}
	cur, err := json.Marshal(inputOf(current))
	if err != nil {
		return machineInput{}, fmt.Errorf("encode machine: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(cur, &doc); err != nil {
		return machineInput{}, fmt.Errorf("decode machine: %w", err)
	}
	for k, raw := range patch {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return machineInput{}, errorf(nethttp.StatusBadRequest, "Invalid JSON body: %s", jsonProblem(err))
		}
		switch {
		case v == nil:
			delete(doc, k)
		case mode == patchMerge:
			doc[k] = mergePatch(doc[k], v)
		default:
			doc[k] = v
		}
	}
	merged, err := json.Marshal(doc)
	if err != nil {
		return machineInput{}, fmt.Errorf("encode merged machine: %w", err)
	}
	var in machineInput
	if err := decodeStrict(merged, &in); err != nil {
		return machineInput{}, err
	}
	return in, nil
}

// mergePatch applies an RFC 7396 merge patch to target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// decodeStrictValue is decodeStrict for any JSON value (no field checks:
// v is a map).
func decodeStrictValue(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(nethttp.StatusBadRequest, "Invalid JSON body: empty body")
	}
	return decodeStrict(body, v)
}

func (s *Server) putMachine(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	s.changeMachine(w, r, body, patchReplaceFields)
}

func (s *Server) patchMachine(w nethttp.ResponseWriter, r *nethttp.Request, body []byte) {
	s.changeMachine(w, r, body, patchMerge)
}

// changeMachine lays body over the machine's fields inside the store's
// transaction, so that two changes of different fields both stay.
func (s *Server) changeMachine(w nethttp.ResponseWriter, r *nethttp.Request, body []byte, mode patchMode) {
	name := mux.Vars(r)["name"]
	m, err := s.st.UpdateMachine(r.Context(), name, func(m *boot.Machine) error {
		in, err := overlay(*m, body, mode)
		if err != nil {
			return err
		}
		check := boot.Machine{}
		in.apply(&check)
		check.MACs = append([]string(nil), in.MACs...)
		if err := check.Validate(); err != nil {
			return errorf(nethttp.StatusBadRequest, "%s", err.Error())
		}
		in.apply(m)
		m.Discovered = false
		return nil
	})
	if err != nil {
		s.fail(w, r, machineError(err))
		return
	}
	msg := "updated"
	if m.Name != name {
		msg = "renamed from " + name
	}
	s.event(r.Context(), m.Name, 0, boot.EventMachineChanged, msg)
	s.machinesChanged()
	writeJSON(w, nethttp.StatusOK, m.Redacted())
}
