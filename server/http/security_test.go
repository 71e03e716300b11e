package http

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/gorilla/mux"
)

// publicRoutes are the only path templates answered without credentials:
// the boot plane and the clock OVH clients read before they can sign.
var publicRoutes = map[string]bool{
	"/boot.ipxe": true, "/ipxe/machine": true, filesRoute: true, "/1.0/auth/time": true, "/v1/auth/time": true,
}

// uiRoutes are the web UI's templates: a login page and session cookies
// instead of API credentials (server/http/ui_test.go TestUINeedsSession).
var uiRoutes = map[string]bool{"/ui/": true, "/ui": true, "/": true}

// walkedRoute is one method on one route of the real router, its variables
// filled in.
type walkedRoute struct{ method, template, path string }

// walkRoutes lists every (method, route) the router answers. Routes without
// a method restriction (the credentials API) are tried with every method.
func walkRoutes(t *testing.T, s *Server) []walkedRoute {
	t.Helper()
	fill := strings.NewReplacer("{name}", "web-1", "{serviceName}", "web-1", "{id}", "1", "{taskId}", "1")
	var out []walkedRoute
	err := s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		if route.GetHandler() == nil {
			return nil // a subrouter's prefix, not a route
		}
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
		}
		path := fill.Replace(tpl)
		if strings.HasSuffix(path, "/") && path != "/" {
			path += "x" // a PathPrefix route
		}
		for _, m := range methods {
			out = append(out, walkedRoute{m, tpl, path})
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk() = %v", err)
	}
	return out
}

// TestEveryRouteNeedsCredentials walks the real router with the real
// authenticator: every route but the public ones refuses a request without
// credentials, with a wrong bearer token and with a wrong OVH signature.
func TestEveryRouteNeedsCredentials(t *testing.T) {
	e, _ := newSecureEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	routes := walkRoutes(t, e.srv)
	checked := 0
	for _, rt := range routes {
		if publicRoutes[rt.template] || uiRoutes[rt.template] {
			continue // the web UI has its own sessions: TestUINeedsSession
		}
		checked++
		for _, c := range []struct {
			name   string
			header map[string]string
		}{
			{"none", nil},
			{"wrong bearer", map[string]string{"Authorization": "Bearer byoi_tok-000000000000_" + strings.Repeat("A", 43)}},
			{"not a token", map[string]string{"Authorization": "Bearer nope"}},
			{"wrong basic", map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}},
			{"unknown OVH key", map[string]string{"X-Ovh-Application": "AAAAAAAAAAAAAAAA", "X-Ovh-Consumer": strings.Repeat("c", 32),
				"X-Ovh-Timestamp": fmt.Sprint(t0.Unix()), "X-Ovh-Signature": "$1$" + strings.Repeat("0", 40)}},
		} {
			req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(`{}`))
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(w, req)
			if w.Code != nethttp.StatusUnauthorized && w.Code != nethttp.StatusForbidden {
				t.Errorf("%s %s with %s credentials = %d %s, want 401 or 403", rt.method, rt.path, c.name, w.Code, w.Body.String())
			}
		}
	}
	// Every native, OVH and agent route, plus credentials, metrics and docs.
	if checked < 30 {
		t.Errorf("checked %d protected routes, want at least 30 (did the walk break?)", checked)
	}
	if _, err := e.st.Machine(t.Context(), "web-1"); err != nil {
		t.Errorf("machine gone after refused requests: %v", err)
	}
	for _, p := range []string{"/1.0/auth/time", "/boot.ipxe", "/ipxe/machine?mac=52:54:00:00:00:01"} {
		if w := e.do("GET", p, "", ""); w.Code != 200 {
			t.Errorf("public GET %s = %d, want 200", p, w.Code)
		}
	}
}

// TestEveryRouteLimitsBodies sends a body over the limit to every route
// that reads one, with valid credentials: all answer 413 and change nothing.
func TestEveryRouteLimitsBodies(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.MaxBodyBytes = 64
		c.Credentials = nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
			t.Errorf("credentials handler reached with an oversized body")
		})
	})
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	installer := "Bearer " + bootInstallerSmall(t, e, "web-2", "52:54:00:00:00:02")
	rescuer := "Bearer " + bootRescue(t, e, "web-3", "52:54:00:00:00:03")
	big := `{"imageURL":"http://img/` + strings.Repeat("a", 100) + `"}`
	checked := 0
	for _, rt := range walkRoutes(t, e.srv) {
		if publicRoutes[rt.template] {
			continue // they never read a body
		}
		auth := "Bearer good"
		switch {
		case strings.HasPrefix(rt.template, "/agent/v1/rescue"):
			auth = rescuer
		case strings.HasPrefix(rt.template, "/agent/"):
			auth = installer
		}
		checked++
		w := e.do(rt.method, rt.path, auth, big)
		if w.Code != nethttp.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with a %d-byte body = %d %s, want 413", rt.method, rt.path, len(big), w.Code, w.Body.String())
		}
	}
	if checked < 30 {
		t.Errorf("checked %d routes, want at least 30", checked)
	}
	if ts, err := e.st.Tasks(t.Context(), "web-1"); err != nil || len(ts) != 0 {
		t.Errorf("tasks after oversized requests = %d, %v; want none", len(ts), err)
	}
	if ts, _ := e.st.Tasks(t.Context(), "web-2"); len(ts) != 1 || ts[0].Status != boot.StatusTodo {
		t.Errorf("installer task after oversized reports = %+v, want one task still todo", ts)
	}
}

// TestImageURLSchemes: only absolute http and https URLs are accepted, by
// every API that starts an installation.
func TestImageURLSchemes(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	apis := []struct {
		name, path string
		body       func(url string) string
	}{
		{"reinstall", "/1.0/dedicated/server/web-1/reinstall", func(u string) string {
			return `{"operatingSystem":"byoi_64","customizations":{"imageURL":` + q(u) + `,"imageType":"raw"}}`
		}},
		{"install/start", "/1.0/dedicated/server/web-1/install/start", func(u string) string {
			return `{"templateName":"byoi_64","userMetadata":[{"key":"imageURL","value":` + q(u) + `},{"key":"imageType","value":"raw"}]}`
		}},
		{"bringYourOwnImage", "/1.0/dedicated/server/web-1/bringYourOwnImage", func(u string) string {
			return `{"URL":` + q(u) + `,"type":"raw"}`
		}},
		{"native", "/api/v1/machines/web-1/tasks", func(u string) string { return `{"imageURL":` + q(u) + `,"imageType":"raw"}` }},
	}
	bad := []string{
		"file:///etc/shadow", "ftp://img.example/a.raw", "tftp://198.51.100.1/a.raw", "gopher://img.example/a.raw",
		"javascript:alert(1)", "data:text/plain,abc", "//img.example/a.raw", "/var/lib/byoi/byoi.db", "http:///a.raw",
		"http:/a.raw", "img.example/a.raw", "", "  http://img.example/a.raw", "http://img.example/a raw\nchain evil",
	}
	for _, api := range apis {
		for _, u := range bad {
			w := e.do("POST", api.path, "Bearer good", api.body(u))
			if w.Code != nethttp.StatusBadRequest {
				t.Errorf("%s with imageURL %q = %d %s, want 400", api.name, u, w.Code, w.Body.String())
			}
		}
	}
	if ts, err := e.st.Tasks(t.Context(), "web-1"); err != nil || len(ts) != 0 {
		t.Fatalf("tasks after refused URLs = %d, %v; want none", len(ts), err)
	}
	for _, api := range apis { // the control: http and https pass, one task at a time
		for _, u := range []string{"http://img.example/a.raw", "https://img.example:8443/a.raw?sig=1"} {
			if w := e.do("POST", api.path, "Bearer good", api.body(u)); w.Code != 200 && w.Code != 201 {
				t.Errorf("%s with imageURL %q = %d %s, want success", api.name, u, w.Code, w.Body.String())
			}
			e.api("POST", "/api/v1/tasks/"+fmt.Sprint(lastTaskID(t, e))+"/cancel", "", 200)
		}
	}
}

func lastTaskID(t *testing.T, e *env) int64 {
	t.Helper()
	ts, err := e.st.Tasks(t.Context(), "web-1")
	if err != nil || len(ts) == 0 {
		t.Fatalf("Tasks(web-1) = %d, %v", len(ts), err)
	}
	var last int64
	for _, tk := range ts {
		last = max(last, tk.ID)
	}
	return last
}

// rawGET sends path as the request target byte for byte (no client-side
// cleaning or escaping) and returns the status code and body.
func rawGET(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)
	resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %q: read response: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestFilesTraversal sends traversal attempts over a real connection, so
// that nothing between the client and the router cleans them first.
func TestFilesTraversal(t *testing.T) {
	e := newEnv(t)
	const secret = "SECRET-outside-the-files-root"
	parent := filepath.Dir(e.files)
	mustWrite(t, filepath.Join(e.files, "ipxe.efi"), "IPXE")
	mustWrite(t, filepath.Join(parent, "secret.txt"), secret)
	mustWrite(t, filepath.Join(e.files, ".hidden"), secret)
	os.Mkdir(filepath.Join(e.files, "sub"), 0o755)
	mustWrite(t, filepath.Join(e.files, "sub", "inner"), secret)
	for name, target := range map[string]string{"link": filepath.Join(parent, "secret.txt"), "dirlink": parent, "rel": "../secret.txt"} {
		if err := os.Symlink(target, filepath.Join(e.files, name)); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(e.srv.Handler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	if code, body := rawGET(t, addr, "/files/ipxe.efi"); code != 200 || body != "IPXE" {
		t.Fatalf("GET /files/ipxe.efi = %d %q, want 200 \"IPXE\" (the control)", code, body)
	}
	for _, tc := range []struct{ name, path string }{
		{"dot dot", "/files/../secret.txt"},
		{"dot dot deeper", "/files/sub/../../secret.txt"},
		{"dot slash dot dot", "/files/./../secret.txt"},
		{"encoded slash", "/files/..%2fsecret.txt"},
		{"encoded dots", "/files/%2e%2e/secret.txt"},
		{"encoded dots and slash", "/files/%2e%2e%2fsecret.txt"},
		{"upper-case encoding", "/files/%2E%2E%2Fsecret.txt"},
		{"double encoded", "/files/%252e%252e%252fsecret.txt"},
		{"double encoded slash", "/files/..%252fsecret.txt"},
		{"backslash", `/files/..\secret.txt`},
		{"encoded backslash", "/files/..%5csecret.txt"},
		{"absolute", "/files//etc/passwd"},
		{"encoded absolute", "/files/%2fetc%2fpasswd"},
		{"absolute request target", "http://" + addr + "/files/../secret.txt"},
		{"NUL", "/files/ipxe.efi%00.txt"},
		{"hidden file", "/files/.hidden"},
		{"subdirectory", "/files/sub/inner"},
		{"encoded subdirectory", "/files/sub%2finner"},
		{"directory", "/files/sub"},
		{"symlink out", "/files/link"},
		{"relative symlink out", "/files/rel"},
		{"directory symlink out", "/files/dirlink/secret.txt"},
		{"encoded directory symlink", "/files/dirlink%2fsecret.txt"},
		{"overlong UTF-8 dot", "/files/%c0%ae%c0%ae/secret.txt"},
		{"semicolon", "/files/..;/secret.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawGET(t, addr, tc.path)
			if code == 200 || code == 206 || strings.Contains(body, secret) || strings.Contains(body, "root:") {
				t.Errorf("GET %s = %d %q, want refused", tc.path, code, body)
			}
		})
	}
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
