package http

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gorilla/mux"
)

// TestOpenAPICoversRoutes checks that the served document parses and
// names every native and agent route the router has, with its methods.
func TestOpenAPICoversRoutes(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	w := e.api("GET", "/api/v1/openapi.json", "", 200)
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json = %v, version %q; want an OpenAPI 3 document", err, doc.OpenAPI)
	}
	varRE := regexp.MustCompile(`\{[^}]+\}`)
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+varRE.ReplaceAllString(p, "{}")] = true
		}
	}
	r := e.srv.router
	checked := 0
	r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil || !(strings.HasPrefix(tpl, "/api/v1/") || strings.HasPrefix(tpl, "/agent/")) {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil
		}
		for _, m := range methods {
			checked++
			if key := m + " " + varRE.ReplaceAllString(tpl, "{}"); !documented[key] {
				t.Errorf("route %s is not in openapi.json", key)
			}
		}
		return nil
	})
	if checked < 13 {
		t.Errorf("checked %d native and agent routes, want at least 13", checked)
	}
}
