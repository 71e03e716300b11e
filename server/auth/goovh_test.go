package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/store"
	"github.com/google/go-cmp/cmp"
	"github.com/ovh/go-ovh/ovh"
)

// echo is what the test server answers to an authenticated request.
type echo struct {
	Credential string `json:"credential"`
	Kind       string `json:"kind"`
	Method     string `json:"method"`
	URI        string `json:"uri"`
	Body       string `json:"body"`
}

// ovhServer serves GET /1.0/auth/time publicly and everything else behind
// a.Check, the way server/http wires it; timeOffset shifts the clock the
// server reports (not the one it checks with).
func ovhServer(t *testing.T, a *Authenticator, timeOffset time.Duration) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/1.0/auth/time" {
			fmt.Fprint(w, time.Now().Add(timeOffset).Unix())
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
			return
		}
		id, kind, err := a.Check(r, body)
		if err != nil {
			WriteError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, echo{id, string(kind), r.Method, r.RequestURI, string(body)})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func realFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, Options{})
	f.a.opts.Now = time.Now // go-ovh signs with the real clock
	return f
}

func TestGoOVHClient(t *testing.T) {
	f := realFixture(t)
	srv := ovhServer(t, f.a, 0)
	c, err := ovh.NewClient(srv.URL+"/1.0", f.ovh.ApplicationKey, f.ovh.ApplicationSecret, f.ovh.ConsumerKey)
	if err != nil {
		t.Fatalf("ovh.NewClient() = %v", err)
	}
	serverTime, err := c.Time()
	if err != nil {
		t.Fatalf("client.Time() = %v", err)
	}
	if d := time.Since(*serverTime); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("client.Time() = %v, want about now", serverTime)
	}
	reinstall := map[string]any{"operatingSystem": "byoi_64", "customizations": map[string]string{"imageURL": "https://img.example/a.raw", "imageType": "raw"}}
	wantBody, _ := json.Marshal(reinstall)
	for _, tc := range []struct {
		name string
		call func(res *echo) error
		want echo
	}{
		{"GET", func(res *echo) error { return c.Get("/dedicated/server", res) },
			echo{Method: "GET", URI: "/1.0/dedicated/server"}},
		{"GET with query", func(res *echo) error { return c.Get("/dedicated/server/rack1-07/task?function=reinstallServer", res) },
			echo{Method: "GET", URI: "/1.0/dedicated/server/rack1-07/task?function=reinstallServer"}},
		{"POST with body", func(res *echo) error { return c.Post("/dedicated/server/rack1-07/reinstall", reinstall, res) },
			echo{Method: "POST", URI: "/1.0/dedicated/server/rack1-07/reinstall", Body: string(wantBody)}},
		{"PUT", func(res *echo) error {
			return c.Put("/dedicated/server/rack1-07", map[string]string{"efiBootloaderPath": `\efi\debian\grubx64.efi`}, res)
		}, echo{Method: "PUT", URI: "/1.0/dedicated/server/rack1-07", Body: `{"efiBootloaderPath":"\\efi\\debian\\grubx64.efi"}`}},
		{"DELETE", func(res *echo) error { return c.Delete("/dedicated/server/rack1-07/bringYourOwnImage", res) },
			echo{Method: "DELETE", URI: "/1.0/dedicated/server/rack1-07/bringYourOwnImage"}},
		{"GET polled twice", func(res *echo) error {
			if err := c.Get("/dedicated/server/rack1-07/install/status", res); err != nil {
				return err
			}
			return c.Get("/dedicated/server/rack1-07/install/status", res)
		}, echo{Method: "GET", URI: "/1.0/dedicated/server/rack1-07/install/status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got echo
			if err := tc.call(&got); err != nil {
				t.Fatalf("call = %v, want nil", err)
			}
			tc.want.Credential, tc.want.Kind = f.ovh.ApplicationKey, "ovh"
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("server saw (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGoOVHClientRefused(t *testing.T) {
	f := realFixture(t)
	srv := ovhServer(t, f.a, 0)
	revoked, err := IssueOVH(t.Context(), f.st, f.keys, "old", Grant{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteCredential(t.Context(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	type creds struct{ ak, as, ck string }
	good := creds{f.ovh.ApplicationKey, f.ovh.ApplicationSecret, f.ovh.ConsumerKey}
	for _, tc := range []struct {
		name   string
		creds  creds
		skewed time.Duration // the server's /auth/time lies by this much
		want   ovh.APIError
	}{
		{"wrong secret", creds{good.ak, altered(good.as), good.ck}, 0,
			ovh.APIError{Code: 400, Class: "Client::BadRequest", Message: "Invalid signature"}},
		{"wrong consumer key", creds{good.ak, good.as, altered(good.ck)}, 0,
			ovh.APIError{Code: 403, Class: "Client::Forbidden", Message: "This credential does not exist"}},
		{"unknown application key", creds{altered(good.ak), good.as, good.ck}, 0,
			ovh.APIError{Code: 403, Class: "Client::Forbidden", Message: "This application key is invalid"}},
		{"revoked credential", creds{revoked.ApplicationKey, revoked.ApplicationSecret, revoked.ConsumerKey}, 0,
			ovh.APIError{Code: 403, Class: "Client::Forbidden", Message: "This application key is invalid"}},
		{"stale clock", good, -10 * time.Minute,
			ovh.APIError{Code: 400, Class: "Client::BadRequest", Message: "Query out of time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := srv
			if tc.skewed != 0 {
				s = ovhServer(t, f.a, tc.skewed)
			}
			c, err := ovh.NewClient(s.URL+"/1.0", tc.creds.ak, tc.creds.as, tc.creds.ck)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Get("/dedicated/server", nil)
			var got *ovh.APIError
			if !errors.As(err, &got) {
				t.Fatalf("client.Get() = %v, want an *ovh.APIError", err)
			}
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("client.Get() error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// altered changes the first character of a random key (to one it is not).
func altered(s string) string {
	if s[0] == 'x' {
		return "y" + s[1:]
	}
	return "x" + s[1:]
}

func TestGoOVHClientWithStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := LoadOrCreateKeyring(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(st, keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := IssueOVH(t.Context(), st, keys, "acceptance", Grant{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := ovhServer(t, a, 0)
	c, err := ovh.NewClient(srv.URL+"/1.0", iss.ApplicationKey, iss.ApplicationSecret, iss.ConsumerKey)
	if err != nil {
		t.Fatal(err)
	}
	var got echo
	if err := c.Post("/dedicated/server/a/install/start", map[string]string{"templateName": "byoi_64"}, &got); err != nil {
		t.Fatalf("client.Post() = %v", err)
	}
	if got.Credential != iss.ID {
		t.Errorf("credential = %q, want %q", got.Credential, iss.ID)
	}
	stored, err := st.Credential(t.Context(), iss.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.LastUsed.IsZero() || strings.Contains(string(stored.SealedSecret), iss.ApplicationSecret) {
		t.Errorf("stored credential: lastUsed %v, sealed secret in clear %v", stored.LastUsed, strings.Contains(string(stored.SealedSecret), iss.ApplicationSecret))
	}
}
