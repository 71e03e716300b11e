package bmc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/byoi/byoi/server/power"
)

func (s *RedfishService) etagValue() string { return fmt.Sprintf(`W/"%d"`, s.etag) }

func (s *RedfishService) systemView(r *http.Request) (map[string]any, error) {
	st, err := s.Backend.State(r.Context())
	if err != nil {
		return nil, err
	}
	ps := "Off"
	if st == power.On {
		ps = "On"
	}
	sys := rfSystems + "/" + s.SystemID
	return map[string]any{
		"@odata.id": sys, "@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem",
		"Id": s.SystemID, "Name": "byoi test VM", "SystemType": "Virtual",
		"UUID":       "9a4b3c2d-0000-4000-8000-00000000c0de",
		"PowerState": ps,
		"Status":     map[string]string{"State": "Enabled", "Health": "OK"},
		"Boot": map[string]any{
			"BootSourceOverrideEnabled":                        s.enabled,
			"BootSourceOverrideTarget":                         s.target,
			"BootSourceOverrideMode":                           s.mode,
			"BootSourceOverrideTarget@Redfish.AllowableValues": overrideTgts,
		},
		"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
			"target":                            sys + "/Actions/ComputerSystem.Reset",
			"ResetType@Redfish.AllowableValues": resetTypes,
		}},
	}, nil
}

func (s *RedfishService) getSystem(w http.ResponseWriter, r *http.Request) {
	v, err := s.systemView(r)
	if err != nil {
		rfError(w, 500, "Base.1.8.InternalError", "The BMC could not read the power state: "+err.Error())
		return
	}
	w.Header().Set("ETag", s.etagValue())
	writeJSON(w, 200, v)
}

// patchSystem accepts only Boot's three override properties, with their
// allowable values (Continuous is refused: byoi never changes the persistent
// boot order and this service cannot either).
func (s *RedfishService) patchSystem(w http.ResponseWriter, r *http.Request) {
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != s.etagValue() {
		rfError(w, 412, "Base.1.8.PreconditionFailed", "The ETag supplied did not match the ETag required to change this resource.")
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		rfError(w, 400, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	var boot map[string]json.RawMessage
	for k, v := range body {
		if k != "Boot" {
			rfError(w, 400, "Base.1.8.PropertyNotWritable", fmt.Sprintf("The property %s is a read only property and cannot be assigned a value.", k))
			return
		}
		if err := json.Unmarshal(v, &boot); err != nil {
			rfError(w, 400, "Base.1.8.PropertyValueTypeError", "The value for the property Boot is of a different type than the property can accept.")
			return
		}
	}
	enabled, target, mode := s.enabled, s.target, s.mode
	for k, raw := range boot {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			rfError(w, 400, "Base.1.8.PropertyValueTypeError", fmt.Sprintf("The value for the property %s is of a different type than the property can accept.", k))
			return
		}
		var allowed []string
		var dst *string
		switch k {
		case "BootSourceOverrideEnabled":
			allowed, dst = overrideOn, &enabled
		case "BootSourceOverrideTarget":
			allowed, dst = overrideTgts, &target
		case "BootSourceOverrideMode":
			allowed, dst = overrideMode, &mode
		default:
			rfError(w, 400, "Base.1.8.PropertyNotWritable", fmt.Sprintf("The property %s is a read only property and cannot be assigned a value.", k))
			return
		}
		if !slices.Contains(allowed, v) {
			rfError(w, 400, "Base.1.8.PropertyValueNotInList",
				fmt.Sprintf("The value %s for the property %s is not in the list of acceptable values (%s).", v, k, strings.Join(allowed, ", ")))
			return
		}
		*dst = v
	}
	if target == "None" {
		enabled = "Disabled"
	}
	s.enabled, s.target, s.mode = enabled, target, mode
	s.etag++
	s.getSystem(w, r)
}

// reset carries out a Reset action. An action that boots the machine first
// applies a pending Once override (PXEOnce on the backend) and consumes it.
func (s *RedfishService) reset(w http.ResponseWriter, r *http.Request) {
	var body struct{ ResetType string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		rfError(w, 400, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	actions := map[string]power.Action{"On": power.PowerOn, "ForceOff": power.PowerOff,
		"ForceRestart": power.Reset, "PowerCycle": power.Cycle}
	a, ok := actions[body.ResetType]
	if !ok {
		rfError(w, 400, "Base.1.8.ActionParameterValueNotInList",
			fmt.Sprintf("The value %s for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values (%s).",
				body.ResetType, strings.Join(resetTypes, ", ")))
		return
	}
	ctx := r.Context()
	st, err := s.Backend.State(ctx)
	if err != nil {
		rfError(w, 500, "Base.1.8.InternalError", "The BMC could not read the power state: "+err.Error())
		return
	}
	boots := a == power.Cycle || (a == power.PowerOn && st == power.Off) || (a == power.Reset && st == power.On)
	if boots && s.enabled == "Once" && s.target == "Pxe" {
		if err := s.Backend.PXEOnce(ctx, s.mode == "UEFI"); err != nil {
			rfError(w, 500, "Base.1.8.InternalError", err.Error())
			return
		}
	}
	if err := s.Backend.Power(ctx, a); err != nil {
		if errors.Is(err, power.ErrPoweredOff) {
			rfError(w, 409, "Base.1.8.ResourceInStandby", "The system is powered off: ForceRestart needs it on (use On or PowerCycle).")
			return
		}
		rfError(w, 500, "Base.1.8.InternalError", err.Error())
		return
	}
	if boots && s.enabled == "Once" {
		s.enabled, s.target = "Disabled", "None"
		s.etag++
	}
	s.resets = append(s.resets, body.ResetType)
	w.WriteHeader(http.StatusNoContent)
}
