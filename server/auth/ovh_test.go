package auth

import (
	"cmp"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	gocmp "github.com/google/go-cmp/cmp"
)

func mustPrefixes(list ...string) []netip.Prefix {
	ps, err := ParseTrustedProxies(list)
	if err != nil {
		panic(err)
	}
	return ps
}

func TestCheckOVHSignature(t *testing.T) {
	const base = "http://byoi.example:8080/1.0"
	for _, tc := range []struct {
		name       string
		opts       Options
		mutate     func(f *fixture, s *signed)
		header     map[string]string // set after signing
		sentURL    string            // the URL the request goes to, when not s.url
		sentMethod string            // the method it is sent with, when not s.method
		remote     string            // the connection's remote address
		want       string            // errorCode, "" for success
	}{
		{name: "good GET", mutate: func(*fixture, *signed) {}},
		{name: "good POST with body", mutate: func(_ *fixture, s *signed) {
			s.method, s.body = http.MethodPost, `{"operatingSystem":"byoi_64"}`
		}},
		{name: "good with query string", mutate: func(_ *fixture, s *signed) { s.url += "?status=todo&x=1" }},
		{name: "good DELETE", mutate: func(_ *fixture, s *signed) { s.method = "DELETE" }},
		{name: "timestamp 4 minutes old", mutate: func(_ *fixture, s *signed) { s.ts -= 240 }},
		{name: "timestamp 4 minutes ahead", mutate: func(_ *fixture, s *signed) { s.ts += 240 }},
		{name: "timestamp 6 minutes old", mutate: func(_ *fixture, s *signed) { s.ts -= 360 }, want: "QUERY_TIME_OUT"},
		{name: "timestamp 6 minutes ahead", mutate: func(_ *fixture, s *signed) { s.ts += 360 }, want: "QUERY_TIME_OUT"},
		{name: "narrow skew window", opts: Options{MaxSkew: 30 * time.Second}, mutate: func(_ *fixture, s *signed) { s.ts -= 31 }, want: "QUERY_TIME_OUT"},
		{name: "wrong secret", mutate: func(_ *fixture, s *signed) { s.secret = strings.Repeat("x", 32) }, want: "INVALID_SIGNATURE"},
		{name: "wrong consumer key", mutate: func(_ *fixture, s *signed) { s.ck = strings.Repeat("y", 32) }, want: "NOT_CREDENTIAL"},
		{name: "empty consumer key", mutate: func(_ *fixture, s *signed) { s.ck = "" }, want: "NOT_CREDENTIAL"},
		{name: "application key alone", header: map[string]string{"X-Ovh-Consumer": "", "X-Ovh-Timestamp": "", "X-Ovh-Signature": ""}, want: "NOT_AUTHENTICATED"},
		{name: "unknown application key", mutate: func(_ *fixture, s *signed) { s.appKey = "AAAAAAAAAAAAAAAA" }, want: "INVALID_KEY"},
		{name: "token ID as application key", mutate: func(f *fixture, s *signed) { s.appKey = f.token.ID }, want: "INVALID_KEY"},
		{name: "signed for another host", mutate: func(_ *fixture, s *signed) {}, sentURL: "http://other.example:8080/1.0/dedicated/server", want: "INVALID_SIGNATURE"},
		{name: "signed for another path", mutate: func(_ *fixture, s *signed) {}, sentURL: base + "/dedicated/server/other", want: "INVALID_SIGNATURE"},
		{name: "signed for another query", mutate: func(_ *fixture, s *signed) { s.url += "?status=todo" },
			sentURL: base + "/dedicated/server?status=done", want: "INVALID_SIGNATURE"},
		{name: "query dropped", mutate: func(_ *fixture, s *signed) { s.url += "?status=todo" }, sentURL: base + "/dedicated/server", want: "INVALID_SIGNATURE"},
		{name: "query added", mutate: func(_ *fixture, s *signed) {}, sentURL: base + "/dedicated/server?status=todo", want: "INVALID_SIGNATURE"},
		{name: "signed for another method", mutate: func(_ *fixture, s *signed) {}, sentMethod: "DELETE", want: "INVALID_SIGNATURE"},
		{name: "signed for https, sent over http", mutate: func(_ *fixture, s *signed) { s.url = strings.Replace(s.url, "http:", "https:", 1) },
			sentURL: base + "/dedicated/server", want: "INVALID_SIGNATURE"},
		{name: "signed for http, sent over TLS", mutate: func(_ *fixture, s *signed) {},
			sentURL: "https://byoi.example:8080/1.0/dedicated/server", want: "INVALID_SIGNATURE"},
		{name: "https with its port", mutate: func(_ *fixture, s *signed) { s.url = "https://byoi.example:8443/1.0/dedicated/server" }},
		{name: "https signed without the port (Node.js client)", mutate: func(_ *fixture, s *signed) { s.url = "https://byoi.example/1.0/dedicated/server" },
			sentURL: "https://byoi.example:8443/1.0/dedicated/server"},
		{name: "https signed with the default port", mutate: func(_ *fixture, s *signed) { s.url = "https://byoi.example:443/1.0/dedicated/server" },
			sentURL: "https://byoi.example/1.0/dedicated/server"},
		{name: "http signed without the default port", mutate: func(_ *fixture, s *signed) { s.url = "http://byoi.example/1.0/dedicated/server" },
			sentURL: "http://byoi.example:80/1.0/dedicated/server"},
		{name: "IPv6 host signed without the port", mutate: func(_ *fixture, s *signed) { s.url = "https://[2001:db8::1]/1.0/dedicated/server" },
			sentURL: "https://[2001:db8::1]:8443/1.0/dedicated/server"},
		{name: "signed for another port", mutate: func(_ *fixture, s *signed) { s.url = "https://byoi.example:9443/1.0/dedicated/server" },
			sentURL: "https://byoi.example:8443/1.0/dedicated/server", want: "INVALID_SIGNATURE"},
		{name: "forwarded proto ignored when untrusted", mutate: func(_ *fixture, s *signed) { s.url = strings.Replace(s.url, "http:", "https:", 1) },
			sentURL: base + "/dedicated/server", header: map[string]string{"X-Forwarded-Proto": "https"}, want: "INVALID_SIGNATURE"},
		{name: "forwarded headers from an untrusted address", opts: Options{TrustedProxies: mustPrefixes("10.0.0.0/8")},
			mutate:  func(_ *fixture, s *signed) { s.url = "https://api.lab.example/1.0/dedicated/server" },
			sentURL: base + "/dedicated/server", remote: "192.0.2.10:4000",
			header: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.lab.example"}, want: "INVALID_SIGNATURE"},
		{name: "proxy's public URL from a trusted proxy", opts: Options{TrustedProxies: mustPrefixes("10.0.0.0/8")},
			mutate:  func(_ *fixture, s *signed) { s.url = "https://api.lab.example/1.0/dedicated/server" },
			sentURL: base + "/dedicated/server", remote: "10.1.2.3:4000",
			header: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.lab.example"}},
		{name: "proxy's public URL with X-Forwarded-Port", opts: Options{TrustedProxies: mustPrefixes("10.1.2.3")},
			mutate:  func(_ *fixture, s *signed) { s.url = "https://api.lab.example:8443/1.0/dedicated/server" },
			sentURL: base + "/dedicated/server", remote: "10.1.2.3:4000",
			header: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.lab.example", "X-Forwarded-Port": "8443"}},
		{name: "internal URL behind a trusted proxy", opts: Options{TrustedProxies: mustPrefixes("10.0.0.0/8")},
			mutate: func(_ *fixture, s *signed) {}, remote: "10.1.2.3:4000",
			header: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.lab.example"}, want: "INVALID_SIGNATURE"},
		{name: "malformed timestamp", header: map[string]string{"X-Ovh-Timestamp": "soon"}, want: "INVALID_SIGNATURE"},
		{name: "signature without $1$", header: map[string]string{"X-Ovh-Signature": strings.Repeat("a", 40)}, want: "INVALID_SIGNATURE"},
		{name: "signature too short", header: map[string]string{"X-Ovh-Signature": "$1$abc"}, want: "INVALID_SIGNATURE"},
		{name: "signature not hex", header: map[string]string{"X-Ovh-Signature": "$1$" + strings.Repeat("z", 40)}, want: "INVALID_SIGNATURE"},
		{name: "application key too long", header: map[string]string{"X-Ovh-Application": strings.Repeat("k", 500)}, want: "INVALID_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			s := f.sign(http.MethodGet, base+"/dedicated/server", "")
			if tc.mutate != nil {
				tc.mutate(f, &s)
			}
			s.remote = tc.remote
			r := s.request()
			if tc.sentURL != "" || tc.sentMethod != "" {
				sent := s
				sent.url = cmp.Or(tc.sentURL, s.url)
				sent.method = cmp.Or(tc.sentMethod, s.method)
				r2 := sent.request()
				r2.Header = r.Header
				r = r2
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			id, kind, err := f.check(r)
			if got := errCode(err); got != tc.want {
				t.Fatalf("Check(%s %s) error = %v (code %q), want code %q", r.Method, s.url, err, got, tc.want)
			}
			if tc.want == "" && (id != f.ovh.ApplicationKey || kind != boot.CredentialOVH) {
				t.Errorf("Check() = %q, %q, want %q, %q", id, kind, f.ovh.ApplicationKey, boot.CredentialOVH)
			}
		})
	}
}

func TestCheckBodyTampered(t *testing.T) {
	f := newFixture(t, Options{})
	s := f.sign(http.MethodPost, "http://h/1.0/dedicated/server/a/reinstall", `{"imageURL":"http://a/x.raw"}`)
	r := s.request()
	if _, _, err := f.a.Check(r, []byte(`{"imageURL":"http://evil/x.raw"}`)); errCode(err) != "INVALID_SIGNATURE" {
		t.Fatalf("Check(tampered body) = %v, want INVALID_SIGNATURE", err)
	}
}

func TestCheckEscapedPath(t *testing.T) {
	// A client that signs the unescaped URL while its HTTP library escapes
	// it on the wire is accepted; the escaped form is accepted too.
	f := newFixture(t, Options{})
	for _, signedURL := range []string{"http://h/1.0/x/a b", "http://h/1.0/x/a%20b"} {
		ts := strconv.FormatInt(f.clock.Now().Unix(), 10)
		r := httptest.NewRequest(http.MethodGet, "http://h/1.0/x/a%20b", nil)
		r.Header.Set("X-Ovh-Application", f.ovh.ApplicationKey)
		r.Header.Set("X-Ovh-Consumer", f.ovh.ConsumerKey)
		r.Header.Set("X-Ovh-Timestamp", ts)
		r.Header.Set("X-Ovh-Signature", FormatSignature(Signature(f.ovh.ApplicationSecret, f.ovh.ConsumerKey, "GET", signedURL, nil, ts)))
		if _, _, err := f.check(r); err != nil {
			t.Errorf("Check(signed %q, sent escaped) = %v, want nil", signedURL, err)
		}
		f.clock.Add(time.Second) // a fresh signature for the next one
	}
}

func TestReplay(t *testing.T) {
	const u = "http://h/1.0/dedicated/server/a/reinstall"
	type use struct {
		method, remote string
		want           string
	}
	for _, tc := range []struct {
		name string
		uses []use
	}{
		// A quick retry repeats the very same signature (whole-second
		// timestamps): it is processed like any request.
		{"POST retried from the same address", []use{{"POST", "192.0.2.1:1000", ""}, {"POST", "192.0.2.1:1001", ""}}},
		{"DELETE retried", []use{{"DELETE", "192.0.2.1:1000", ""}, {"DELETE", "192.0.2.1:2000", ""}}},
		{"GET polled three times in a second", []use{{"GET", "192.0.2.1:1000", ""}, {"GET", "192.0.2.1:1001", ""}, {"GET", "192.0.2.1:1002", ""}}},
		{"POST replayed from another address", []use{{"POST", "192.0.2.1:1000", ""}, {"POST", "192.0.2.9:1000", "QUERY_REPLAYED"}}},
		{"PUT replayed from another address", []use{{"PUT", "192.0.2.1:1000", ""}, {"PUT", "192.0.2.9:1000", "QUERY_REPLAYED"}, {"PUT", "192.0.2.1:1000", ""}}},
		{"GET replayed from another address", []use{{"GET", "192.0.2.1:1000", ""}, {"GET", "198.51.100.7:1000", "QUERY_REPLAYED"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			for i, u2 := range tc.uses {
				s := f.sign(u2.method, u, "{}")
				s.remote = u2.remote
				if _, _, err := f.check(s.request()); errCode(err) != u2.want {
					t.Fatalf("use %d: Check(%s from %s) = %v, want code %q", i, u2.method, u2.remote, err, u2.want)
				}
			}
		})
	}
}

func TestReplayBehindTrustedProxy(t *testing.T) {
	// Behind a trusted proxy the client's address is the proxy's
	// X-Forwarded-For entry: two clients behind the same proxy are told
	// apart.
	f := newFixture(t, Options{TrustedProxies: mustPrefixes("10.0.0.1")})
	s := f.sign(http.MethodPost, "http://h/1.0/x", "{}")
	s.remote = "10.0.0.1:5000"
	for i, tc := range []struct{ xff, want string }{
		{"192.0.2.1", ""},
		{"192.0.2.1", ""},
		{"198.51.100.7, 10.0.0.1", "QUERY_REPLAYED"},
		{"203.0.113.9, 192.0.2.1", ""}, // the right-most untrusted hop is the client
	} {
		r := s.request()
		r.Header.Set("X-Forwarded-For", tc.xff)
		if _, _, err := f.check(r); errCode(err) != tc.want {
			t.Errorf("use %d: Check(X-Forwarded-For %s) = %v, want code %q", i, tc.xff, err, tc.want)
		}
	}
}

func TestReplayCacheExpiresAndIsBounded(t *testing.T) {
	f := newFixture(t, Options{ReplayCapacity: 3, MaxSkew: time.Minute})
	for i := range 3 {
		s := f.sign(http.MethodPost, "http://h/1.0/x", "")
		if _, _, err := f.check(s.request()); err != nil {
			t.Fatalf("Check(request %d) = %v", i, err)
		}
		f.clock.Add(time.Second)
	}
	s := f.sign(http.MethodPost, "http://h/1.0/x", "")
	if _, _, err := f.check(s.request()); errCode(err) != "TOO_MANY_REQUESTS" {
		t.Fatalf("Check(with a full replay cache) = %v, want TOO_MANY_REQUESTS", err)
	}
	f.clock.Add(2 * time.Minute) // the first signatures leave the window
	s = f.sign(http.MethodPost, "http://h/1.0/x", "")
	if _, _, err := f.check(s.request()); err != nil {
		t.Fatalf("Check(after expiry) = %v, want nil", err)
	}
	if got := f.a.replay.size(); got != 1 {
		t.Errorf("replay cache size = %d, want 1", got)
	}
}

func TestRateLimit(t *testing.T) {
	opts := Options{FailureBurst: 3, FailureRate: 1}
	t.Run("per remote address", func(t *testing.T) {
		f := newFixture(t, opts)
		for i := range 3 {
			s := f.sign(http.MethodGet, "http://h/1.0/x", "")
			s.appKey, s.remote = "unknownkey"+string(rune('a'+i)), "192.0.2.1:1"
			if _, _, err := f.check(s.request()); errCode(err) != "INVALID_KEY" {
				t.Fatalf("attempt %d = %v, want INVALID_KEY", i, err)
			}
		}
		good := f.sign(http.MethodGet, "http://h/1.0/x", "")
		good.remote = "192.0.2.1:1"
		_, _, err := f.check(good.request())
		var e *Error
		if errCode(err) != "TOO_MANY_REQUESTS" || !asError(err, &e) || e.Status != http.StatusTooManyRequests || e.RetryAfter != time.Second {
			t.Fatalf("Check(good, after 3 failures) = %#v, want 429 TOO_MANY_REQUESTS retry 1s", err)
		}
		good.remote = "192.0.2.2:1"
		if _, _, err := f.check(good.request()); err != nil {
			t.Fatalf("Check(good, other address) = %v, want nil", err)
		}
		f.clock.Add(time.Second)
		good = f.sign(http.MethodGet, "http://h/1.0/x", "")
		good.remote = "192.0.2.1:1"
		if _, _, err := f.check(good.request()); err != nil {
			t.Fatalf("Check(good, after refill) = %v, want nil", err)
		}
	})
	t.Run("per application key", func(t *testing.T) {
		f := newFixture(t, opts)
		for i := range 3 {
			s := f.sign(http.MethodGet, "http://h/1.0/x", "")
			s.secret, s.remote = "guess"+string(rune('a'+i)), "192.0.2."+string(rune('1'+i))+":1"
			if _, _, err := f.check(s.request()); errCode(err) != "INVALID_SIGNATURE" {
				t.Fatalf("attempt %d = %v, want INVALID_SIGNATURE", i, err)
			}
		}
		good := f.sign(http.MethodGet, "http://h/1.0/x", "")
		good.remote = "203.0.113.5:1"
		if _, _, err := f.check(good.request()); errCode(err) != "TOO_MANY_REQUESTS" {
			t.Fatalf("Check(good, key drained from other addresses) = %v, want TOO_MANY_REQUESTS", err)
		}
		r := newBearer(f.token.Token)
		r.RemoteAddr = "203.0.113.5:1"
		if _, _, err := f.check(r); err != nil {
			t.Fatalf("Check(token from the same address) = %v, want nil", err)
		}
	})
	t.Run("bounded memory", func(t *testing.T) {
		l := newFailureLimiter(1, 3, 5)
		now := time.Unix(0, 0)
		for i := range 100 {
			l.fail(strings.Repeat("k", i+1), now)
		}
		if got := l.size(); got > 5 {
			t.Errorf("limiter tracks %d keys, want at most 5", got)
		}
	})
}

func asError(err error, e **Error) bool {
	v, ok := err.(*Error)
	*e = v
	return ok
}

func TestNoCredentials(t *testing.T) {
	f := newFixture(t, Options{})
	r := newBearer("")
	r.Header.Del("Authorization")
	_, _, err := f.check(r)
	if diff := gocmp.Diff(ErrNoCredentials, err); diff != "" {
		t.Errorf("Check(no credentials) mismatch (-want +got):\n%s", diff)
	}
	if got := err.(*Error).HTTPStatus(); got != http.StatusUnauthorized {
		t.Errorf("HTTPStatus() = %d, want 401", got)
	}
}

func TestTouchThrottled(t *testing.T) {
	f := newFixture(t, Options{TouchInterval: time.Minute})
	for range 5 {
		if _, _, err := f.check(newBearer(f.token.Token)); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(10 * time.Second)
	}
	f.clock.Add(time.Minute)
	if _, _, err := f.check(newBearer(f.token.Token)); err != nil {
		t.Fatal(err)
	}
	if f.st.touches != 2 {
		t.Errorf("TouchCredential calls = %d, want 2", f.st.touches)
	}
	if c, _ := f.st.Credential(t.Context(), f.token.ID); !c.LastUsed.Equal(f.clock.Now()) {
		t.Errorf("LastUsed = %v, want %v", c.LastUsed, f.clock.Now())
	}
}

func FuzzParseSignature(f *testing.F) {
	good := FormatSignature(Signature("s", "c", "GET", "http://h/1.0/x", nil, "1"))
	for _, s := range []string{good, strings.ToUpper(good), "", "$1$", "$1$" + strings.Repeat("g", 40), "$2$" + good[3:], good + "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sum, ok := parseSignature(s)
		if !ok {
			return
		}
		if got := FormatSignature(sum); got != strings.ToLower(s) {
			t.Fatalf("FormatSignature(parseSignature(%q)) = %q, want the lower-case input", s, got)
		}
	})
}
