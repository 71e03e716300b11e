package http

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	nethttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/store"
	"github.com/prometheus/client_golang/prometheus"
)

// realAuth adapts the auth package to Authenticator, as byoi serve does.
type realAuth struct{ a *auth.Authenticator }

func (x realAuth) CheckHeaders(r *nethttp.Request) error { return x.a.CheckHeaders(r) }

func (x realAuth) Authenticate(r *nethttp.Request, body []byte) (Principal, error) {
	c, err := x.a.Authenticate(r, body)
	return Principal{CredentialID: c.ID, Kind: c.Kind, Name: c.Name, Rules: c.Rules, Expires: c.Expires}, err
}

// secureEnv is an env over the real store, the real authenticator (with
// an admin token and an OVH credential) and a registry the test reads.
type secureEnv struct {
	*env
	reg   *prometheus.Registry
	token auth.Issued
	ovh   auth.Issued
}

func newSecureEnv(t *testing.T) (*env, *secureEnv) {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, path: filepath.Join(dir, "byoi.db"), files: t.TempDir(), logs: &syncBuffer{}, now: t0}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(e.path, store.Options{Logger: log.With("component", "store")})
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	key := make([]byte, auth.KeySize)
	rand.Read(key)
	keys, err := auth.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(st, keys, auth.Options{Logger: log.With("component", "auth"), Now: e.clock, FailureBurst: 1000})
	if err != nil {
		t.Fatalf("auth.New() = %v", err)
	}
	se := &secureEnv{env: e, reg: prometheus.NewRegistry()}
	if se.token, err = auth.IssueToken(t.Context(), st, "admin", auth.Grant{}, t0); err != nil {
		t.Fatalf("IssueToken() = %v", err)
	}
	if se.ovh, err = auth.IssueOVH(t.Context(), st, keys, "script", auth.Grant{}, t0); err != nil {
		t.Fatalf("IssueOVH() = %v", err)
	}
	e.cfg = Config{
		BaseURL: "http://198.51.100.1:8080", FilesDir: e.files, Auth: realAuth{a}, Credentials: a.Credentials(),
		Logger: log.With("component", "http"), Registerer: se.reg, Now: e.clock,
	}
	if e.srv, err = New(e.cfg, st); err != nil {
		t.Fatalf("New() = %v", err)
	}
	return e, se
}

// exchange is one recorded request and its answer.
type exchange struct {
	what   string
	status int
	header nethttp.Header
	body   string
}

// send serves req and records the answer for the final check.
func (se *secureEnv) send(req *nethttp.Request, log *[]exchange) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	se.srv.Handler().ServeHTTP(w, req)
	*log = append(*log, exchange{req.Method + " " + req.URL.RequestURI(), w.Code, w.Header().Clone(), w.Body.String()})
	return w
}

// bearer sends a request with the admin token.
func (se *secureEnv) bearer(method, path, body string, log *[]exchange) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+se.token.Token)
	return se.send(req, log)
}

// signed sends an OVH-signed request, the clock moved on a second so that
// every signature is fresh.
func (se *secureEnv) signed(method, path, body string, log *[]exchange) *httptest.ResponseRecorder {
	se.advance(1e9)
	u := "http://byoi.test" + path
	ts := strconv.FormatInt(se.clock().Unix(), 10)
	req := httptest.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("X-Ovh-Application", se.ovh.ApplicationKey)
	req.Header.Set("X-Ovh-Consumer", se.ovh.ConsumerKey)
	req.Header.Set("X-Ovh-Timestamp", ts)
	req.Header.Set("X-Ovh-Signature", auth.FormatSignature(auth.Signature(se.ovh.ApplicationSecret, se.ovh.ConsumerKey, method, u, []byte(body), ts)))
	return se.send(req, log)
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, what string, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("%s = %d %s, want %d", what, w.Code, w.Body.String(), want)
	}
}

// agentCall sends an installer request with its token and records it.
func (se *secureEnv) agentCall(token, path, body string, log *[]exchange) *httptest.ResponseRecorder {
	method := "POST"
	if path == agentapi.PathTask {
		method = "GET"
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	return se.send(req, log)
}

// TestCanary plants canary secrets in header values and user data through
// all four install APIs, and uses a real bearer token and OVH credential.
// It then exercises every reading route, the boot plane, the agent API,
// metrics and error paths, and checks that no response (the installer's own
// task fetch aside), no log line and no metric label holds a secret.
func TestCanary(t *testing.T) {
	e, se := newSecureEnv(t)
	rnd := make([]byte, 8)
	rand.Read(rnd)
	canHeader := "CANARYheader" + hex.EncodeToString(rnd)
	canUser := "CANARYuserdata" + hex.EncodeToString(rnd)
	userData := "#cloud-config\\npassword: " + canUser + "\\n"
	macs := map[string]string{"a": "52:54:00:00:00:0a", "b": "52:54:00:00:00:0b", "c": "52:54:00:00:00:0c", "d": "52:54:00:00:00:0d"}
	for n, m := range macs {
		e.addMachine(boot.Machine{Name: n, MACs: []string{m}})
	}
	var seen []exchange
	img := `"http://img.example/a.raw"`

	// One installation per API, secrets in each.
	wantStatus(t, se.signed("POST", "/1.0/dedicated/server/a/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":`+img+`,
		"imageType":"raw","httpHeaders":{"Authorization":"Bearer `+canHeader+`"},"configDriveUserData":"`+userData+`"}}`, &seen), "reinstall", 200)
	wantStatus(t, se.bearer("POST", "/1.0/dedicated/server/b/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageURL","value":`+img+`},
		{"key":"imageType","value":"raw"},{"key":"httpHeaders0Key","value":"X-Token"},{"key":"httpHeaders0Value","value":"`+canHeader+`"},
		{"key":"configDriveUserData","value":"`+userData+`"}]}`, &seen), "install/start", 200)
	wantStatus(t, se.signed("POST", "/1.0/dedicated/server/c/bringYourOwnImage", `{"URL":`+img+`,"type":"raw",
		"httpHeader":[{"key":"Cookie","value":"s=`+canHeader+`"}],"configdrive":{"enable":true,"userData":"`+userData+`"}}`, &seen), "bringYourOwnImage", 200)
	wantStatus(t, se.bearer("POST", "/api/v1/machines/d/tasks", `{"imageURL":`+img+`,"imageType":"raw",
		"httpHeaders":{"Authorization":"`+canHeader+`"},"configDriveUserData":"`+userData+`"}`, &seen), "native install", 201)

	// Refused requests carrying secrets: validation errors, conflicts,
	// unknown fields, hostile header names, bad credentials.
	for _, c := range []struct{ path, body string }{
		{"/1.0/dedicated/server/a/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":` + img + `,"imageType":"raw","httpHeaders":{"A":"` + canHeader + `"}}}`},
		{"/1.0/dedicated/server/b/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":` + img + `,"imageType":"vhd","httpHeaders":{"A":"` + canHeader + `"},"configDriveUserData":"` + userData + `"}}`},
		{"/1.0/dedicated/server/c/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageURL","value":` + img + `},{"key":"httpHeaders0Value","value":"` + canHeader + `"}]}`},
		{"/1.0/dedicated/server/d/bringYourOwnImage", `{"URL":` + img + `,"type":"raw","httpHeader":[{"key":"Bad Name\n","value":"` + canHeader + `"}]}`},
		{"/api/v1/machines/a/tasks", `{"imageURL":` + img + `,"imageType":"raw","httpHeaders":{"A":"` + canHeader + `"},"bogus":"` + canUser + `"}`},
		{"/api/v1/machines/a/tasks", `{"imageURL":` + img + `,"imageType":"raw","configDriveUserData":"not cloud-init ` + canUser + `"}`},
		// User data that fails its checks (issue 16): the messages must not quote it.
		{"/api/v1/machines/a/tasks", `{"imageURL":` + img + `,"imageType":"raw","configDriveUserData":"` + base64.StdEncoding.EncodeToString([]byte(canUser+"\n")) + `"}`},
		{"/api/v1/machines/a/tasks", `{"imageURL":` + img + `,"imageType":"raw","configDriveUserData":"#cloud-config\na: *` + canUser + `\n"}`},
		{"/api/v1/machines/a/tasks", `{"imageURL":` + img + `,"imageType":"raw","configDriveUserData":"Content-Type: multipart/mixed; boundary=B\n` + canUser + `\n\n--B--\n"}`},
		{"/api/v1/machines/a/tasks", `{"imageURL":` + img + `,"imageType":"raw","httpHeaders":{"Host\r\nX":"` + canHeader + `"}}`},
		{"/api/v1/machines/nosuch/tasks", `{"imageURL":` + img + `,"imageType":"raw","httpHeaders":{"A":"` + canHeader + `"}}`},
	} {
		if w := se.bearer("POST", c.path, c.body, &seen); w.Code < 400 {
			t.Errorf("POST %s = %d, want an error (the test's premise)", c.path, w.Code)
		}
	}
	for _, h := range []map[string]string{
		{"Authorization": "Bearer " + se.token.Token[:len(se.token.Token)-4] + "AAAA"},
		{"Authorization": "Bearer " + canHeader},
		{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+canHeader))},
		{"X-Ovh-Application": se.ovh.ApplicationKey, "X-Ovh-Consumer": canHeader, "X-Ovh-Timestamp": "1", "X-Ovh-Signature": "$1$" + strings.Repeat("0", 40)},
		{"X-Ovh-Application": se.ovh.ApplicationKey, "X-Ovh-Consumer": se.ovh.ConsumerKey, "X-Ovh-Timestamp": strconv.FormatInt(t0.Unix(), 10), "X-Ovh-Signature": canHeader},
	} {
		req := httptest.NewRequest("GET", "/api/v1/machines", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if w := se.send(req, &seen); w.Code < 400 {
			t.Errorf("GET /api/v1/machines with %v = %d, want refused", h, w.Code)
		}
	}

	// The boot plane and the agent: a installs, b fails, c boots only.
	scripts := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		w := se.send(httptest.NewRequest("GET", "/ipxe/machine?mac="+macs[n]+"&platform=efi&buildarch=x86_64", nil), &seen)
		scripts[n] = scriptToken(t, w.Body.String())
	}
	for _, n := range []string{"a", "b"} {
		req := httptest.NewRequest("GET", agentapi.PathTask, nil)
		req.Header.Set("Authorization", "Bearer "+scripts[n])
		w := httptest.NewRecorder() // the one answer that hands the spec out: not recorded
		se.srv.Handler().ServeHTTP(w, req)
		if w.Code != 200 || !strings.Contains(w.Body.String(), canHeader) || !strings.Contains(w.Body.String(), canUser) {
			t.Fatalf("installer task fetch for %s = %d, want the secrets handed out:\n%s", n, w.Code, w.Body.String())
		}
	}
	wantStatus(t, se.agentCall(scripts["a"], agentapi.PathProgress, `{"step":"download","status":"doing","bytesDone":1,"bytesTotal":2}`, &seen), "progress", 204)
	wantStatus(t, se.agentCall(scripts["a"], agentapi.PathProgress, `{"step":"bogus","status":"doing"}`, &seen), "bad progress", 400)
	wantStatus(t, se.agentCall(scripts["a"], agentapi.PathDone, `{"disk":"/dev/vda","bootMode":"local"}`, &seen), "done", 204)
	wantStatus(t, se.agentCall(scripts["b"], agentapi.PathError, `{"step":"download","class":"customer","message":"Could not download image: 403 Forbidden"}`, &seen), "error", 204)
	for _, n := range []string{"a", "b"} { // ended: tokens refused
		wantStatus(t, se.agentCall(scripts[n], agentapi.PathTask, "", &seen), "task fetch after the end", 401)
	}
	local := se.send(httptest.NewRequest("GET", "/ipxe/machine?mac="+macs["a"]+"&platform=efi&buildarch=x86_64", nil), &seen)
	if local.Code != 200 || strings.Contains(local.Body.String(), agentapi.ParamToken+"=") {
		t.Errorf("script of installed a = %d, want a local boot without a token:\n%s", local.Code, local.Body.String())
	}
	se.send(httptest.NewRequest("GET", "/boot.ipxe", nil), &seen)

	// Every GET route, for every machine and task, both ways of signing in.
	for _, n := range []string{"a", "b", "c", "d", "nosuch"} {
		fill := strings.NewReplacer("{name}", n, "{serviceName}", n)
		for id := 0; id <= 5; id++ {
			idFill := strings.NewReplacer("{id}", strconv.Itoa(id), "{taskId}", strconv.Itoa(id))
			for _, rt := range walkRoutes(t, se.srv) {
				if rt.method != "GET" || publicRoutes[rt.template] {
					continue
				}
				p := idFill.Replace(fill.Replace(rt.template))
				if strings.HasSuffix(p, "/") {
					p += se.token.ID
				}
				se.bearer("GET", p, "", &seen)
				if n == "a" && id == 1 {
					se.signed("GET", p, "", &seen)
				}
			}
		}
	}
	for _, p := range []string{"/api/v1/credentials", "/api/v1/credentials/" + se.ovh.ID, "/metrics", "/api/v1/nosuch?x=" + canHeader} {
		se.bearer("GET", p, "", &seen)
	}
	wantStatus(t, se.bearer("POST", "/api/v1/tasks/3/cancel", "", &seen), "cancel", 200)

	checkNoSecrets(t, se, seen, scripts, map[string]string{"header canary": canHeader, "user data canary": canUser}, 300)
}

// checkNoSecrets greps every recorded response, the logs and the metrics.
// tokens are installer tokens (allowed in iPXE scripts only), extra more
// secrets; at least minSeen exchanges must have been recorded.
func checkNoSecrets(t *testing.T, se *secureEnv, seen []exchange, tokens, extra map[string]string, minSeen int) {
	t.Helper()
	secrets := map[string]string{
		"admin token": se.token.Token, "admin token secret": se.token.Token[len(se.token.Token)-43:],
		"admin token hash":       auth.HashToken(se.token.Token),
		"OVH application secret": se.ovh.ApplicationSecret, "OVH consumer key": se.ovh.ConsumerKey,
	}
	for name, s := range extra {
		secrets[name] = s
	}
	for n, tok := range tokens {
		secrets["installer token of "+n] = tok
		secrets["installer token hash of "+n] = lifecycle.HashToken(tok)
	}
	for name, s := range secrets {
		secrets[name+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(s))
	}
	for _, x := range seen {
		var hdr bytes.Buffer
		x.header.Write(&hdr)
		for name, s := range secrets {
			// The installer script is where the installer token is handed out.
			if strings.HasPrefix(name, "installer token of ") && strings.HasPrefix(x.body, "#!ipxe") {
				continue
			}
			if strings.Contains(x.body, s) || strings.Contains(hdr.String(), s) {
				t.Errorf("%s (%d) leaks the %s:\n%s%s", x.what, x.status, name, hdr.String(), x.body)
			}
		}
	}
	if len(seen) < minSeen {
		t.Errorf("recorded %d exchanges, want at least %d (did the route walk break?)", len(seen), minSeen)
	}

	logs := se.logs.String()
	for _, want := range []string{"component=auth", "component=http", "auth failed", "task done", "installer started"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q: the capture is broken", want)
		}
	}
	for name, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the logs hold the %s", name)
		}
	}

	mfs, err := se.reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	var labels strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				fmt.Fprintf(&labels, "%s %s=%s\n", mf.GetName(), lp.GetName(), lp.GetValue())
			}
		}
	}
	if !strings.Contains(labels.String(), "route=") {
		t.Fatalf("no route label among the metrics:\n%s", labels.String())
	}
	for name, s := range secrets {
		if strings.Contains(labels.String(), s) {
			t.Errorf("a metric label holds the %s", name)
		}
	}
}
