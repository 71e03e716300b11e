package http

import (
	"regexp"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
)

// TestQueryIDOnEveryAnswer walks every route (and an unknown path, and a
// wrong method): each answer has its own X-Ovh-QueryID, and the log line
// of the request carries it.
func TestQueryIDOnEveryAnswer(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	seen := map[string]bool{}
	idRE := regexp.MustCompile(`^BYOI\.[0-9a-f]{16}$`)
	routes := append(walkRoutes(t, e.srv), walkedRoute{"GET", "unmatched", "/nope"}, walkedRoute{"DELETE", "wrong method", "/1.0/dedicated/server"})
	for _, rt := range routes {
		for _, auth := range []string{"Bearer good", ""} {
			w := e.do(rt.method, rt.path, auth, "")
			id := w.Header().Get(QueryIDHeader)
			if !idRE.MatchString(id) || seen[id] {
				t.Errorf("%s %s = %d with query ID %q, want a new BYOI.<16 hex>", rt.method, rt.path, w.Code, id)
			}
			seen[id] = true
			if !strings.Contains(e.logs.String(), "query_id="+id) {
				t.Errorf("%s %s: query ID %s not logged", rt.method, rt.path, id)
			}
		}
	}
	if len(seen) < 80 {
		t.Errorf("checked %d answers, want at least 80 (did the walk break?)", len(seen))
	}
}

func TestServerID(t *testing.T) {
	for _, tc := range []struct {
		m    boot.Machine
		want int64
	}{
		{boot.Machine{Name: "web-1", ServerID: 77}, 77},
		{boot.Machine{Name: "web-1"}, 1991751455}, // FNV-1a("web-1") & 0x7fffffff
	} {
		if got := serverID(tc.m); got != tc.want || got <= 0 || got > 1<<31 {
			t.Errorf("serverID(%+v) = %d, want %d", tc.m, got, tc.want)
		}
	}
	if serverID(boot.Machine{Name: "web-1"}) == serverID(boot.Machine{Name: "web-2"}) {
		t.Errorf("web-1 and web-2 share a derived serverId")
	}
}
