package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func serve(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	return w
}

func TestCredentialsAPI(t *testing.T) {
	f := newFixture(t, Options{})
	h := f.a.Credentials()

	w := serve(h, http.MethodPost, CredentialsPath, `{"kind":"ovh","name":"terraform"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST ovh = %d %s, want 201", w.Code, w.Body)
	}
	var ovhCred Issued
	if err := json.Unmarshal(w.Body.Bytes(), &ovhCred); err != nil {
		t.Fatal(err)
	}
	if ovhCred.Kind != boot.CredentialOVH || ovhCred.Name != "terraform" || ovhCred.ID != ovhCred.ApplicationKey ||
		len(ovhCred.ApplicationKey) != 16 || len(ovhCred.ApplicationSecret) != 32 || len(ovhCred.ConsumerKey) != 32 || ovhCred.Token != "" {
		t.Errorf("POST ovh = %+v, want an ovh credential with 16/32/32-character keys", ovhCred)
	}
	w = serve(h, http.MethodPost, CredentialsPath+"/", `{"kind":"token","name":"ci"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("POST token = %d %s, want 201", w.Code, w.Body)
	}
	var tokCred Issued
	if err := json.Unmarshal(w.Body.Bytes(), &tokCred); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tokCred.Token, TokenPrefix) || tokCred.ApplicationSecret != "" {
		t.Errorf("POST token = %+v, want a byoi_ token only", tokCred)
	}

	// The new credentials authenticate.
	s := f.sign(http.MethodGet, "http://h/1.0/dedicated/server", "")
	s.appKey, s.secret, s.ck = ovhCred.ApplicationKey, ovhCred.ApplicationSecret, ovhCred.ConsumerKey
	if id, _, err := f.check(s.request()); err != nil || id != ovhCred.ID {
		t.Fatalf("Check(new ovh credential) = %q, %v", id, err)
	}
	if id, _, err := f.check(newBearer(tokCred.Token)); err != nil || id != tokCred.ID {
		t.Fatalf("Check(new token) = %q, %v", id, err)
	}

	// Listing and reading never show a secret.
	secrets := []string{ovhCred.ApplicationSecret, ovhCred.ConsumerKey, tokCred.Token, f.ovh.ApplicationSecret, f.ovh.ConsumerKey, f.token.Token,
		HashToken(tokCred.Token), HashToken(f.token.Token)}
	w = serve(h, http.MethodGet, CredentialsPath, "")
	if w.Code != http.StatusOK {
		t.Fatalf("GET list = %d %s", w.Code, w.Body)
	}
	var list []CredentialView
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 4 {
		t.Errorf("GET list has %d credentials, want 4", len(list))
	}
	one := serve(h, http.MethodGet, CredentialsPath+"/"+tokCred.ID, "")
	if one.Code != http.StatusOK {
		t.Fatalf("GET one = %d %s", one.Code, one.Body)
	}
	for _, body := range []string{w.Body.String(), one.Body.String()} {
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("GET response %s contains secret %q", body, s)
			}
		}
		for _, field := range []string{"secretHash", "sealedSecret", "consumerKey", "token"} {
			if strings.Contains(body, `"`+field+`":`) {
				t.Errorf("GET response %s has field %q", body, field)
			}
		}
	}
	var view CredentialView
	json.Unmarshal(one.Body.Bytes(), &view)
	if diff := cmp.Diff(CredentialView{ID: tokCred.ID, Kind: boot.CredentialToken, Name: "ci", Created: tokCred.Created, LastUsed: f.clock.Now()}, view); diff != "" {
		t.Errorf("GET one mismatch (-want +got):\n%s", diff)
	}

	// Revoking stops both at once.
	for _, id := range []string{ovhCred.ID, tokCred.ID} {
		if w := serve(h, http.MethodDelete, CredentialsPath+"/"+id, ""); w.Code != http.StatusNoContent {
			t.Fatalf("DELETE %s = %d %s, want 204", id, w.Code, w.Body)
		}
	}
	f.clock.Add(1e9)
	s.ts = f.clock.Now().Unix()
	if _, _, err := f.check(s.request()); errCode(err) != "INVALID_KEY" {
		t.Errorf("Check(revoked ovh credential) = %v, want INVALID_KEY", err)
	}
	if _, _, err := f.check(newBearer(tokCred.Token)); errCode(err) != "INVALID_TOKEN" {
		t.Errorf("Check(revoked token) = %v, want INVALID_TOKEN", err)
	}
}

func TestCredentialsAPIErrors(t *testing.T) {
	f := newFixture(t, Options{})
	h := f.a.Credentials()
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"missing kind", "POST", CredentialsPath, `{"name":"x"}`, 400, `Missing parameter: kind ("ovh" or "token")`},
		{"bad kind", "POST", CredentialsPath, `{"kind":"ssh","name":"x"}`, 400, `Invalid kind "ssh": use "ovh" or "token"`},
		{"missing name", "POST", CredentialsPath, `{"kind":"token"}`, 400, "Missing parameter: name"},
		{"control character in name", "POST", CredentialsPath, `{"kind":"token","name":"a\nb"}`, 400, `Invalid name "a\nb": 1-100 printable characters`},
		{"unknown field", "POST", CredentialsPath, `{"kind":"token","name":"x","secret":"mine"}`, 400, `Invalid JSON body: json: unknown field "secret"`},
		{"not JSON", "POST", CredentialsPath, `kind=token`, 400, "Invalid JSON body: invalid character 'k' looking for beginning of value"},
		{"revoke unknown", "DELETE", CredentialsPath + "/nope", "", 404, "The requested object (credential = nope) does not exist"},
		{"get unknown", "GET", CredentialsPath + "/nope", "", 404, "The requested object (credential = nope) does not exist"},
		{"PUT collection", "PUT", CredentialsPath, "", 405, "Method not allowed, use GET, HEAD, POST"},
		{"POST item", "POST", CredentialsPath + "/x", "", 405, "Method not allowed, use GET, HEAD, DELETE"},
		{"deeper path", "GET", CredentialsPath + "/x/y", "", 404, "No such route " + CredentialsPath + "/x/y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.method, tc.path, tc.body)
			var got struct{ Class, Message string }
			json.Unmarshal(w.Body.Bytes(), &got)
			if w.Code != tc.status || got.Message != tc.message || !strings.HasPrefix(got.Class, "Client::") {
				t.Errorf("%s %s = %d %s, want %d with message %q", tc.method, tc.path, w.Code, w.Body, tc.status, tc.message)
			}
		})
	}
	f.st.fail = errors.New("disk on fire")
	w := serve(h, http.MethodGet, CredentialsPath, "")
	if w.Code != 500 || strings.Contains(w.Body.String(), "fire") {
		t.Errorf("GET with a broken store = %d %s, want 500 without the internal error", w.Code, w.Body)
	}
}

func TestNoSecretInLogs(t *testing.T) {
	f := newFixture(t, Options{FailureBurst: 2})
	h := f.a.Credentials()
	w := serve(h, http.MethodPost, CredentialsPath, `{"kind":"ovh","name":"n"}`)
	var iss Issued
	json.Unmarshal(w.Body.Bytes(), &iss)
	// Successes, failures of every kind, rate limiting.
	f.check(newBearer(f.token.Token))
	f.check(newBearer(f.token.Token[:len(f.token.Token)-2] + "zz"))
	s := f.sign(http.MethodPost, "http://h/1.0/x", `{"configDriveUserData":"c2VjcmV0"}`)
	f.check(s.request())
	f.check(s.request())
	s.secret = iss.ApplicationSecret
	f.check(s.request())
	s.ck = iss.ConsumerKey
	f.check(s.request())
	if f.logs.Len() == 0 {
		t.Fatalf("nothing was logged; the test would prove nothing")
	}
	for _, secret := range []string{iss.ApplicationSecret, iss.ConsumerKey, f.ovh.ApplicationSecret, f.ovh.ConsumerKey,
		f.token.Token, f.token.Token[len(TokenPrefix)+tokenIDLen+1:], "c2VjcmV0", s.request().Header.Get("X-Ovh-Signature")} {
		if strings.Contains(f.logs.String(), secret) {
			t.Errorf("logs contain secret %q:\n%s", secret, f.logs)
		}
	}
}

func TestBootstrap(t *testing.T) {
	st := newMemStore()
	path := filepath.Join(t.TempDir(), AdminTokenFile)
	a, err := New(st, testKeyring(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	works := func() string {
		t.Helper()
		tok, err := ReadTokenFile(path)
		if err != nil {
			t.Fatalf("ReadTokenFile() = %v", err)
		}
		if _, kind, err := a.Check(newBearer(tok), nil); err != nil || kind != boot.CredentialToken {
			t.Fatalf("Check(bootstrap token) = %v, want success", err)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("token file mode = %04o, want 0600", fi.Mode().Perm())
		}
		return tok
	}
	steps := []struct {
		name        string
		before      func()
		wantCreated bool
		wantSame    bool
	}{
		{"first start", func() {}, true, false},
		{"restart", func() {}, false, true},
		{"after revoke", func() {
			tok, _ := ReadTokenFile(path)
			id, _ := tokenID(tok)
			st.DeleteCredential(t.Context(), id)
		}, true, false},
		{"file lost", func() { os.Remove(path) }, true, false},
		{"file garbled", func() { os.WriteFile(path, []byte("hello\n"), 0o600) }, true, false},
	}
	prev := ""
	for _, step := range steps {
		step.before()
		created, err := Bootstrap(t.Context(), st, path)
		if err != nil || created != step.wantCreated {
			t.Fatalf("%s: Bootstrap() = %v, %v, want %v, nil", step.name, created, err, step.wantCreated)
		}
		tok := works()
		if (tok == prev) != step.wantSame {
			t.Errorf("%s: token unchanged = %v, want %v", step.name, tok == prev, step.wantSame)
		}
		prev = tok
	}
	if _, err := Bootstrap(t.Context(), st, filepath.Join(t.TempDir(), "missing", AdminTokenFile)); err == nil {
		t.Errorf("Bootstrap(in a missing dir) = nil error, want an error")
	}
	// revoke removed one; first start, file lost and file garbled each
	// left one; the failed bootstrap must leave none behind.
	if n := len(st.m); n != 3 {
		t.Errorf("store holds %d credentials after the steps, want 3", n)
	}
}
