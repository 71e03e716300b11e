package auth

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    boot.AccessRule
		wantErr string
	}{
		{in: "GET /*", want: boot.AccessRule{Method: "GET", Path: "/*"}},
		{in: "  post /dedicated/server/*/reinstall ", want: boot.AccessRule{Method: "POST", Path: "/dedicated/server/*/reinstall"}},
		{in: "DELETE /dedicated/server/web-1/bringYourOwnImage", want: boot.AccessRule{Method: "DELETE", Path: "/dedicated/server/web-1/bringYourOwnImage"}},
		{in: "GET", wantErr: "want METHOD /path"},
		{in: "PATCH /*", wantErr: `invalid rule method "PATCH"`},
		{in: "GET dedicated/*", wantErr: "must start with /"},
		{in: "GET /a b", wantErr: "printable ASCII without spaces"},
		{in: "GET /a?x=1", wantErr: "without spaces, ? or #"},
		{in: "GET /" + strings.Repeat("a", MaxRulePath), wantErr: "at most 512 characters"},
	} {
		got, err := ParseRule(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseRule(%q) = %v, %v, want an error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRule(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"/*", "/dedicated/server", true},
		{"/*", "/", true},
		{"/*", "", false},
		{"/dedicated/server", "/dedicated/server", true},
		{"/dedicated/server", "/dedicated/server/", false},
		{"/dedicated/server/*", "/dedicated/server", false},
		{"/dedicated/server/*", "/dedicated/server/web-1/task/3", true},
		{"/dedicated/server/*/reinstall", "/dedicated/server/web-1/reinstall", true},
		{"/dedicated/server/*/reinstall", "/dedicated/server/web-1/install/start", false},
		{"/dedicated/server/*/reinstall", "/dedicated/server/a/b/reinstall", true},
		{"/dedicated/server/*/reinstall", "/dedicated/server/web-1/reinstall/x", false},
		{"/*/task/*", "/dedicated/server/web-1/task/12", true},
		{"/a*b*c", "/axxbyyc", true},
		{"/a*b*c", "/axxbyy", false},
		{"**", "/anything", true},
	} {
		if got := matchPattern(tc.pattern, tc.s); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

func TestAllowed(t *testing.T) {
	scoped := []boot.AccessRule{{Method: "GET", Path: "/dedicated/server/*"}, {Method: "POST", Path: "/dedicated/server/*/reinstall"}}
	for _, tc := range []struct {
		rules        []boot.AccessRule
		method, path string
		want         bool
	}{
		{nil, "DELETE", "/1.0/dedicated/server/a/bringYourOwnImage", true},
		{nil, "POST", CredentialsPath, true},
		{scoped, "GET", "/1.0/dedicated/server/a", true},
		{scoped, "GET", "/v1/dedicated/server/a/task/1", true},
		{scoped, "HEAD", "/1.0/dedicated/server/a", true},
		{scoped, "GET", "/1.0/dedicated/server", false},
		{scoped, "POST", "/1.0/dedicated/server/a/reinstall", true},
		{scoped, "POST", "/1.0/dedicated/server/a/install/start", false},
		{scoped, "PUT", "/1.0/dedicated/server/a", false},
		{scoped, "GET", "/1.0/auth/details", true},
		{scoped, "GET", "/v1/auth/details", true},
		{scoped, "POST", "/1.0/auth/details", false},
		{scoped, "GET", "/1.0/me", false},
		{scoped, "GET", "/api/v1/machines", false},
		{[]boot.AccessRule{{Method: "GET", Path: "/*"}}, "GET", "/api/v1/machines", true},
		{[]boot.AccessRule{{Method: "GET", Path: "/*"}, {Method: "POST", Path: "/*"}}, "POST", CredentialsPath, false},
		{[]boot.AccessRule{{Method: "GET", Path: "/*"}}, "GET", CredentialsPath + "/tok-1", false},
		{[]boot.AccessRule{{Method: "POST", Path: "/*"}}, "POST", KeysPath + "/rotate", false},
		{[]boot.AccessRule{{Method: "GET", Path: "/api/v1/credentialsX"}}, "GET", "/api/v1/credentialsX", true},
		{[]boot.AccessRule{{Method: "GET", Path: "/"}}, "GET", "/1.0", true},
	} {
		if got := Allowed(tc.rules, tc.method, tc.path); got != tc.want {
			t.Errorf("Allowed(%v, %s %s) = %v, want %v", tc.rules, tc.method, tc.path, got, tc.want)
		}
	}
}

func TestScopedCredential(t *testing.T) {
	f := newFixture(t, Options{})
	rules := []boot.AccessRule{{Method: "GET", Path: "/*"}, {Method: "POST", Path: "/dedicated/server/*/reinstall"}}
	iss, err := IssueOVH(t.Context(), f.st, f.keys, "terraform", Grant{Rules: rules}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := IssueToken(t.Context(), f.st, "reader", Grant{Rules: rules[:1]}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		want         string
	}{
		{"GET", "/1.0/dedicated/server", ""},
		{"GET", "/v1/dedicated/server/a/task?status=todo", ""},
		{"POST", "/1.0/dedicated/server/a/reinstall", ""},
		{"POST", "/1.0/dedicated/server/a/install/start", "NOT_GRANTED_CALL"},
		{"DELETE", "/1.0/dedicated/server/a/bringYourOwnImage", "NOT_GRANTED_CALL"},
		{"POST", "/api/v1/credentials", "NOT_GRANTED_CALL"},
		{"GET", "/api/v1/credentials", "NOT_GRANTED_CALL"},
	} {
		s := f.sign(tc.method, "http://h"+tc.path, "")
		s.appKey, s.secret, s.ck = iss.ApplicationKey, iss.ApplicationSecret, iss.ConsumerKey
		_, _, err := f.check(s.request())
		if got := errCode(err); got != tc.want {
			t.Errorf("Check(scoped OVH, %s %s) = %v, want code %q", tc.method, tc.path, err, tc.want)
		}
		var e *Error
		if tc.want != "" && (!asError(err, &e) || e.Status != http.StatusForbidden || e.Message != "This call has not been granted") {
			t.Errorf("Check(scoped OVH, %s %s) = %#v, want 403 %q", tc.method, tc.path, err, "This call has not been granted")
		}
		r := newBearer(tok.Token)
		r.Method, r.URL.Path = tc.method, tc.path
		wantTok := tc.want
		if tc.method != "GET" || strings.HasPrefix(tc.path, CredentialsPath) {
			wantTok = "NOT_GRANTED_CALL"
		}
		if _, _, err := f.check(r); errCode(err) != wantTok {
			t.Errorf("Check(scoped token, %s %s) = %v, want code %q", tc.method, tc.path, err, wantTok)
		}
	}
	// Refusals of scope are not failed authentications: they do not drain
	// the rate limiter.
	for range 3 * DefaultFailureBurst {
		s := f.sign("DELETE", "http://h/1.0/x", "")
		s.appKey, s.secret, s.ck = iss.ApplicationKey, iss.ApplicationSecret, iss.ConsumerKey
		f.check(s.request())
	}
	s := f.sign("GET", "http://h/1.0/x", "")
	s.appKey, s.secret, s.ck = iss.ApplicationKey, iss.ApplicationSecret, iss.ConsumerKey
	if _, _, err := f.check(s.request()); err != nil {
		t.Errorf("Check(allowed call after many refused ones) = %v, want nil", err)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, Options{})
	g := Grant{Expires: f.clock.Now().Add(time.Hour)}
	iss, err := IssueOVH(t.Context(), f.st, f.keys, "for a day", g, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := IssueToken(t.Context(), f.st, "for a day", g, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	try := func() (ovhErr, tokErr error) {
		s := f.sign("GET", "http://h/1.0/dedicated/server", "")
		s.appKey, s.secret, s.ck = iss.ApplicationKey, iss.ApplicationSecret, iss.ConsumerKey
		_, _, ovhErr = f.check(s.request())
		_, _, tokErr = f.check(newBearer(tok.Token))
		return
	}
	if o, k := try(); o != nil || k != nil {
		t.Fatalf("before expiry: Check() = %v, %v, want nil, nil", o, k)
	}
	f.clock.Add(time.Hour)
	o, k := try()
	if diff := cmp.Diff(ErrInvalidCredential, o); diff != "" {
		t.Errorf("expired OVH credential mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(ErrExpiredToken, k); diff != "" {
		t.Errorf("expired token mismatch (-want +got):\n%s", diff)
	}
	if _, err := IssueToken(t.Context(), f.st, "past", Grant{Expires: f.clock.Now().Add(-time.Second)}, f.clock.Now()); errCode(err) != "" || err == nil {
		t.Errorf("IssueToken(expired already) = %v, want a 400", err)
	}
}

// FuzzMatchPattern compares matchPattern with a regular expression built
// from the pattern.
func FuzzMatchPattern(f *testing.F) {
	for _, s := range [][2]string{{"/*", "/a"}, {"/a*b*c", "/axbyc"}, {"/dedicated/server/*/reinstall", "/dedicated/server/x/reinstall"}, {"***", ""}, {"/a*", "/b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 || !utf8.ValidString(pattern) || !utf8.ValidString(s) {
			return
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re := regexp.MustCompile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if got, want := matchPattern(pattern, s), re.MatchString(s); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	})
}
