package bmc

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/byoi/byoi/server/power"
)

// RedfishService is a small Redfish service for one machine, whose power
// and one-time boot it maps onto a power.Driver (a QMP driver for a QEMU VM),
// the way OpenStack's sushy-tools maps them onto libvirt:
//
//	Reset On / ForceOff / ForceRestart / PowerCycle → Power(on/off/reset/cycle)
//	Boot {BootSourceOverrideTarget: Pxe, Enabled: Once} → PXEOnce before the
//	next Reset that boots the machine, then the override is consumed
//	(Enabled back to Disabled, as real BMCs do)
//
// It serves GET /redfish, the ServiceRoot, the Systems collection, the
// system (GET, PATCH of Boot with If-Match), the Reset action, and the
// SessionService (login with POST …/Sessions, X-Auth-Token, logout with
// DELETE). Everything but /redfish and the ServiceRoot needs HTTP basic
// authentication or a session token. Errors carry Redfish error bodies.
// Serve it over TLS (httptest.NewTLSServer): redfishtool sends credentials
// only over https.
type RedfishService struct {
	Backend  power.Driver
	User     string
	Password string
	SystemID string // default "vm0"
	UEFI     bool   // the machine boots UEFI (BootSourceOverrideMode's default)

	mu       sync.Mutex
	etag     int
	enabled  string            // BootSourceOverrideEnabled: Disabled or Once
	target   string            // BootSourceOverrideTarget: None, Pxe or Hdd
	mode     string            // BootSourceOverrideMode: UEFI or Legacy
	sessions map[string]string // token → session id
	resets   []string
}

const (
	rfRoot     = "/redfish/v1"
	rfSystems  = rfRoot + "/Systems"
	rfSessions = rfRoot + "/SessionService/Sessions"
)

var (
	resetTypes   = []string{"On", "ForceOff", "ForceRestart", "PowerCycle"}
	overrideOn   = []string{"Disabled", "Once"}
	overrideTgts = []string{"None", "Pxe", "Hdd"}
	overrideMode = []string{"UEFI", "Legacy"}
)

func (s *RedfishService) init() {
	if s.SystemID == "" {
		s.SystemID = "vm0"
	}
	if s.enabled == "" {
		s.enabled, s.target, s.mode = "Disabled", "None", "Legacy"
		if s.UEFI {
			s.mode = "UEFI"
		}
		s.sessions = map[string]string{}
	}
}

// Resets returns the ResetTypes the service carried out, in order.
func (s *RedfishService) Resets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.resets)
}

func (s *RedfishService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	w.Header().Set("OData-Version", "4.0")
	path := strings.TrimSuffix(r.URL.Path, "/")
	sys := rfSystems + "/" + s.SystemID
	switch {
	case path == "/redfish":
		s.only(w, r, "GET", func() { writeJSON(w, 200, map[string]any{"v1": rfRoot + "/"}) })
		return
	case path == rfRoot:
		s.only(w, r, "GET", func() { writeJSON(w, 200, s.serviceRoot()) })
		return
	case path == rfSessions && r.Method == http.MethodPost:
		s.login(w, r)
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="byoi test BMC"`)
		rfError(w, 401, "Base.1.8.NoValidSession", "There is no valid session established with the implementation.")
		return
	}
	switch {
	case path == rfSystems:
		s.only(w, r, "GET", func() {
			writeJSON(w, 200, map[string]any{
				"@odata.id": rfSystems, "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
				"Name": "Computer System Collection", "Members@odata.count": 1,
				"Members": []any{map[string]string{"@odata.id": sys}},
			})
		})
	case path == sys:
		switch r.Method {
		case http.MethodGet:
			s.getSystem(w, r)
		case http.MethodPatch:
			s.patchSystem(w, r)
		default:
			s.notAllowed(w, "GET, PATCH")
		}
	case path == sys+"/Actions/ComputerSystem.Reset":
		s.only(w, r, "POST", func() { s.reset(w, r) })
	case path == rfRoot+"/SessionService":
		s.only(w, r, "GET", func() {
			writeJSON(w, 200, map[string]any{
				"@odata.id": rfRoot + "/SessionService", "@odata.type": "#SessionService.v1_1_8.SessionService",
				"Id": "SessionService", "Name": "Session Service", "ServiceEnabled": true, "SessionTimeout": 600,
				"Sessions": map[string]string{"@odata.id": rfSessions},
			})
		})
	case path == rfSessions:
		s.only(w, r, "GET", func() {
			members := []any{}
			for _, id := range s.sessions {
				members = append(members, map[string]string{"@odata.id": rfSessions + "/" + id})
			}
			writeJSON(w, 200, map[string]any{"@odata.id": rfSessions, "@odata.type": "#SessionCollection.SessionCollection",
				"Name": "Session Collection", "Members@odata.count": len(members), "Members": members})
		})
	case strings.HasPrefix(path, rfSessions+"/"):
		s.session(w, r, strings.TrimPrefix(path, rfSessions+"/"))
	default:
		rfError(w, 404, "Base.1.8.ResourceMissingAtURI", fmt.Sprintf("The resource at the URI %s was not found.", r.URL.Path))
	}
}

func (s *RedfishService) serviceRoot() map[string]any {
	return map[string]any{
		"@odata.id": rfRoot + "/", "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
		"Id": "RootService", "Name": "byoi test BMC", "RedfishVersion": "1.6.0",
		"UUID":           "9a4b3c2d-0000-4000-8000-00000000b301",
		"Systems":        map[string]string{"@odata.id": rfSystems},
		"SessionService": map[string]string{"@odata.id": rfRoot + "/SessionService"},
		"Links":          map[string]any{"Sessions": map[string]string{"@odata.id": rfSessions}},
	}
}

func (s *RedfishService) only(w http.ResponseWriter, r *http.Request, method string, fn func()) {
	if r.Method != method {
		s.notAllowed(w, method)
		return
	}
	fn()
}

func (s *RedfishService) notAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	rfError(w, 405, "Base.1.8.OperationNotAllowed", "The HTTP method is not allowed on this resource.")
}

func (s *RedfishService) authorized(r *http.Request) bool {
	if tok := r.Header.Get("X-Auth-Token"); tok != "" {
		_, ok := s.sessions[tok]
		return ok
	}
	u, p, ok := r.BasicAuth()
	return ok && s.credentialsOK(u, p)
}

func (s *RedfishService) credentialsOK(u, p string) bool {
	uok := subtle.ConstantTimeCompare([]byte(u), []byte(s.User)) == 1
	pok := subtle.ConstantTimeCompare([]byte(p), []byte(s.Password)) == 1
	return uok && pok
}

func (s *RedfishService) login(w http.ResponseWriter, r *http.Request) {
	var body struct{ UserName, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		rfError(w, 400, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if !s.credentialsOK(body.UserName, body.Password) {
		rfError(w, 401, "Base.1.8.NoValidSession", "Invalid username or password.")
		return
	}
	tok, id := randomHex(16), randomHex(4)
	s.sessions[tok] = id
	w.Header().Set("X-Auth-Token", tok)
	w.Header().Set("Location", rfSessions+"/"+id)
	writeJSON(w, 201, s.sessionView(id, body.UserName))
}

func (s *RedfishService) sessionView(id, user string) map[string]any {
	return map[string]any{"@odata.id": rfSessions + "/" + id, "@odata.type": "#Session.v1_1_0.Session",
		"Id": id, "Name": "User Session", "UserName": user}
}

func (s *RedfishService) session(w http.ResponseWriter, r *http.Request, id string) {
	for tok, sid := range s.sessions {
		if sid != id {
			continue
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, 200, s.sessionView(id, s.User))
		case http.MethodDelete:
			delete(s.sessions, tok)
			w.WriteHeader(http.StatusNoContent)
		default:
			s.notAllowed(w, "GET, DELETE")
		}
		return
	}
	rfError(w, 404, "Base.1.8.ResourceMissingAtURI", fmt.Sprintf("The resource at the URI %s was not found.", r.URL.Path))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeJSON writes v with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// rfError writes a Redfish error body (DSP0266 §9.6).
func rfError(w http.ResponseWriter, status int, id, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": id, "message": msg,
		"@Message.ExtendedInfo": []any{map[string]any{
			"@odata.type": "#Message.v1_1_1.Message", "MessageId": id, "Message": msg, "Severity": "Warning",
		}},
	}})
}
