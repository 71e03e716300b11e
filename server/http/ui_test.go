package http

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
)

// uiClient is a browser-like client of the UI: a cookie jar, no redirects
// followed.
type uiClient struct {
	t    *testing.T
	base string
	hc   *nethttp.Client
}

func newUIClient(t *testing.T, base string, hc *nethttp.Client) *uiClient {
	jar, _ := cookiejar.New(nil)
	c := *hc
	c.Jar = jar
	c.CheckRedirect = func(*nethttp.Request, []*nethttp.Request) error { return nethttp.ErrUseLastResponse }
	return &uiClient{t: t, base: base, hc: &c}
}

func (c *uiClient) do(method, path string, form url.Values, hdr map[string]string) (*nethttp.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := nethttp.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, html string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", html)
	}
	return m[1]
}

// login logs c in with token and returns the session cookie as set.
func (c *uiClient) login(token string) *nethttp.Cookie {
	c.t.Helper()
	_, page := c.do("GET", "/ui/login", nil, nil)
	resp, body := c.do("POST", "/ui/login", url.Values{"csrf": {csrfOf(c.t, page)}, "token": {token}, "next": {"/ui/"}}, nil)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/ui/" {
		c.t.Fatalf("login = %d %s, want 303 to /ui/", resp.StatusCode, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "byoi_session" {
			return ck
		}
	}
	c.t.Fatal("login set no session cookie")
	return nil
}

func TestUINeedsSession(t *testing.T) {
	e, _ := newSecureEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	hs := httptest.NewServer(e.srv.Handler())
	defer hs.Close()
	for _, cookie := range []string{"", "byoi_session=forged"} {
		c := newUIClient(t, hs.URL, hs.Client())
		hdr := map[string]string{}
		if cookie != "" {
			hdr["Cookie"] = cookie
		}
		for _, p := range []string{"/ui/", "/ui/tasks", "/ui/machines/web-1", "/ui/machines/web-1/deploy", "/ui/tasks/1/cancel"} {
			resp, _ := c.do("GET", p, nil, hdr)
			if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login?next=") {
				t.Errorf("GET %s (cookie %q) = %d → %s, want 303 to the login page", p, cookie, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
		for _, r := range []struct{ method, path string }{
			{"GET", "/ui/events?view=fleet"}, {"POST", "/ui/machines/web-1/deploy"}, {"POST", "/ui/tasks/1/cancel"}, {"POST", "/ui/logout"},
		} {
			resp, _ := c.do(r.method, r.path, url.Values{"imageURL": {"http://x/y"}, "imageType": {"raw"}, "confirmed": {"yes"}}, hdr)
			if resp.StatusCode != 401 {
				t.Errorf("%s %s (cookie %q) = %d, want 401", r.method, r.path, cookie, resp.StatusCode)
			}
		}
	}
	if ts, _ := e.st.Tasks(context.Background(), "web-1"); len(ts) != 0 {
		t.Errorf("tasks created without a session: %+v", ts)
	}
	for _, p := range []string{"/ui/login", "/ui/static/app.js", "/ui/static/style.css"} {
		if resp, _ := newUIClient(t, hs.URL, hs.Client()).do("GET", p, nil, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s = %d, want 200 without a session", p, resp.StatusCode)
		}
	}
}

func TestUILoginSessionCSRF(t *testing.T) {
	e, se := newSecureEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	hs := httptest.NewServer(e.srv.Handler())
	defer hs.Close()
	c := newUIClient(t, hs.URL, hs.Client())

	c.do("GET", "/ui/login", nil, nil)
	if resp, _ := c.do("POST", "/ui/login", url.Values{"token": {se.token.Token}}, nil); resp.StatusCode != 403 {
		t.Errorf("login without the form's CSRF token = %d, want 403", resp.StatusCode)
	}
	_, page := c.do("GET", "/ui/login", nil, nil)
	if resp, body := c.do("POST", "/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "token": {"byoi_wrong"}}, nil); resp.StatusCode != 401 || !strings.Contains(body, "This token was refused") {
		t.Errorf("login with a wrong token = %d", resp.StatusCode)
	}
	ck := c.login(se.token.Token)
	if !ck.HttpOnly || ck.SameSite != nethttp.SameSiteStrictMode || ck.Path != "/ui/" || ck.Secure {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/ui/, not Secure over plain HTTP", ck)
	}
	if strings.Contains(ck.Value, se.token.Token) {
		t.Error("the session cookie holds the token")
	}
	resp, fleet := c.do("GET", "/ui/", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(fleet, `data-machine="web-1"`) {
		t.Fatalf("fleet = %d:\n%s", resp.StatusCode, fleet)
	}
	for k, want := range map[string]string{"Content-Security-Policy": "script-src 'self'", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if !strings.Contains(resp.Header.Get(k), want) {
			t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), want)
		}
	}
	csrf := csrfOf(t, fleet)
	deploy := url.Values{"imageURL": {"http://198.51.100.9/d.raw"}, "imageType": {"raw"}, "confirmed": {"yes"}}

	// Refused: no token, a wrong one, another origin.
	for _, tc := range []struct {
		name string
		csrf string
		hdr  map[string]string
	}{
		{"no CSRF token", "", nil},
		{"wrong CSRF token", "x" + csrf[1:], nil},
		{"other origin", csrf, map[string]string{"Origin": "http://evil.example"}},
	} {
		f := url.Values{}
		for k, v := range deploy {
			f[k] = v
		}
		if tc.csrf != "" {
			f.Set("csrf", tc.csrf)
		}
		if resp, body := c.do("POST", "/ui/machines/web-1/deploy", f, tc.hdr); resp.StatusCode != 403 || !strings.Contains(body, "CSRF check failed") {
			t.Errorf("deploy with %s = %d, want 403", tc.name, resp.StatusCode)
		}
	}
	if ts, _ := e.st.Tasks(context.Background(), "web-1"); len(ts) != 0 {
		t.Fatalf("refused posts created tasks: %+v", ts)
	}
	// Unconfirmed: a confirmation page, nothing created.
	f := url.Values{"csrf": {csrf}, "imageURL": {"http://198.51.100.9/d.raw"}, "imageType": {"raw"}}
	if resp, body := c.do("POST", "/ui/machines/web-1/deploy", f, nil); resp.StatusCode != 200 || !strings.Contains(body, "Install http://198.51.100.9/d.raw on web-1?") {
		t.Errorf("unconfirmed deploy = %d:\n%s", resp.StatusCode, body)
	}
	if ts, _ := e.st.Tasks(context.Background(), "web-1"); len(ts) != 0 {
		t.Fatalf("an unconfirmed deploy created a task")
	}
	// Bad input: the API's message, nothing created.
	f.Set("imageURL", "file:///etc/passwd")
	f.Set("confirmed", "yes")
	if resp, body := c.do("POST", "/ui/machines/web-1/deploy", f, nil); resp.StatusCode != 400 || !strings.Contains(body, "imageURL") {
		t.Errorf("deploy of a file: URL = %d:\n%s", resp.StatusCode, body)
	}
	deploy.Set("csrf", csrf)
	if resp, body := c.do("POST", "/ui/machines/web-1/deploy", deploy, map[string]string{"Origin": hs.URL}); resp.StatusCode != 303 {
		t.Fatalf("confirmed deploy = %d %s", resp.StatusCode, body)
	}
	ts, _ := e.st.Tasks(context.Background(), "web-1")
	if len(ts) != 1 || ts[0].Status != boot.StatusTodo {
		t.Fatalf("tasks after deploy = %+v", ts)
	}
	if resp, _ := c.do("POST", "/ui/machines/web-1/deploy", deploy, nil); resp.StatusCode != 409 {
		t.Errorf("second deploy = %d, want 409 (an installation is in progress)", resp.StatusCode)
	}
	if resp, _ := c.do("POST", "/ui/tasks/"+itoa(ts[0].ID)+"/cancel", url.Values{"csrf": {csrf}}, nil); resp.StatusCode != 303 {
		t.Errorf("cancel = %d", resp.StatusCode)
	}
	if task, _ := e.st.Task(context.Background(), ts[0].ID); task.Status != boot.StatusCancelled || task.Message != "Cancelled by an operator" {
		t.Errorf("task after cancel = %s %q", task.Status, task.Message)
	}
	// Revoking the token ends the session at once.
	if err := e.st.DeleteCredential(context.Background(), se.token.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.do("GET", "/ui/", nil, nil); resp.StatusCode != 303 {
		t.Errorf("fleet after the token was revoked = %d, want 303 to the login page", resp.StatusCode)
	}
}

func TestUISecureCookieOverTLS(t *testing.T) {
	e, se := newSecureEnv(t)
	hs := httptest.NewTLSServer(e.srv.Handler())
	defer hs.Close()
	if ck := newUIClient(t, hs.URL, hs.Client()).login(se.token.Token); !ck.Secure {
		t.Errorf("session cookie over TLS = %+v, want Secure", ck)
	}
}
