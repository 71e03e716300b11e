package auth

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/google/go-cmp/cmp"
)

func TestLoadOrCreateKeyring(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	k1, err := LoadOrCreateKeyring(path)
	if err != nil || k1.Current() != 1 || len(k1.keys[1]) != KeySize {
		t.Fatalf("LoadOrCreateKeyring(new) = %+v, %v, want version 1", k1, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	k2, err := LoadOrCreateKeyring(path)
	if err != nil || !bytes.Equal(k1.keys[1], k2.keys[1]) {
		t.Fatalf("LoadOrCreateKeyring(existing) = %x, %v, want %x", k2.keys[1], err, k1.keys[1])
	}
	key := k1.keys[1]
	k := hex.EncodeToString(key)
	other := hex.EncodeToString(bytes.Repeat([]byte{3}, KeySize))
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string // error, or the versions and current
	}{
		{"legacy single key", k + "\n", 0o600, "versions [1] current 1"},
		{"versioned", "# comment\n1 " + k + "\n3 " + other + "\n", 0o600, "versions [1 3] current 3"},
		{"legacy key then versions", k + "\n2 " + other + "\n", 0o600, "versions [1 2] current 2"},
		{"readable by others", k, 0o644, "accessible to other users"},
		{"not hex", strings.Repeat("zz", 32), 0o600, "hex-encoded"},
		{"too short", k[:32], 0o600, "hex-encoded"},
		{"empty", "\n", 0o600, "hex-encoded"},
		{"version twice", "1 " + k + "\n1 " + other + "\n", 0o600, "version 1 given twice"},
		{"version zero", "0 " + k + "\n", 0o600, "version from 1"},
		{"bare key after versions", "1 " + k + "\n" + other + "\n", 0o600, `want "VERSION HEX"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			kr, err := LoadOrCreateKeyring(p)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = fmt.Sprintf("versions %v current %d", kr.Versions(), kr.Current())
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("LoadOrCreateKeyring(%s) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
	if _, err := LoadOrCreateKeyring(filepath.Join(dir, "missing-dir", KeyFile)); err == nil {
		t.Errorf("LoadOrCreateKeyring(in a missing dir) = nil error, want an error")
	}
}

// rotationEnv is a real store and a keyring file in a temp dir.
type rotationEnv struct {
	t    *testing.T
	dir  string
	st   *store.Store
	keys *Keyring
	a    *Authenticator
}

func newRotationEnv(t *testing.T) *rotationEnv {
	t.Helper()
	e := &rotationEnv{t: t, dir: t.TempDir()}
	st, err := store.Open(filepath.Join(e.dir, "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	e.reload()
	return e
}

// reload reads the keyring file again, as `byoi serve` does at start.
func (e *rotationEnv) reload() {
	e.t.Helper()
	kr, err := LoadOrCreateKeyring(filepath.Join(e.dir, KeyFile))
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := New(e.st, kr, Options{FailureBurst: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys, e.a = kr, a
}

// works checks that iss authenticates a signed request.
func (e *rotationEnv) works(iss Issued) error {
	u := "http://h/1.0/dedicated/server"
	ts := fmt.Sprint(time.Now().Unix())
	r, _ := http.NewRequest(http.MethodGet, u, nil)
	r.RequestURI, r.RemoteAddr = "/1.0/dedicated/server", "192.0.2.1:1"
	r.Header.Set("X-Ovh-Application", iss.ApplicationKey)
	r.Header.Set("X-Ovh-Consumer", iss.ConsumerKey)
	r.Header.Set("X-Ovh-Timestamp", ts)
	r.Header.Set("X-Ovh-Signature", FormatSignature(Signature(iss.ApplicationSecret, iss.ConsumerKey, "GET", u, nil, ts)))
	_, _, err := e.a.Check(r, nil)
	return err
}

func (e *rotationEnv) issue(name string) Issued {
	e.t.Helper()
	iss, err := IssueOVH(context.Background(), e.st, e.keys, name, Grant{}, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return iss
}

func (e *rotationEnv) versions() map[string]int {
	cs, err := e.st.Credentials(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, c := range cs {
		if c.Kind == boot.CredentialOVH {
			out[c.Name] = c.KeyVersion
		}
	}
	return out
}

func TestRotate(t *testing.T) {
	e := newRotationEnv(t)
	ctx := context.Background()
	// A credential sealed before key versions existed has KeyVersion 0.
	legacy := e.issue("legacy")
	c, err := e.st.Credential(ctx, legacy.ID)
	if err != nil {
		t.Fatal(err)
	}
	c.KeyVersion = 0
	if err := e.st.PutCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	first := e.issue("first")
	before := c.SealedSecret

	res, err := e.a.Rotate(ctx, false)
	if err != nil {
		t.Fatalf("Rotate() = %v", err)
	}
	if diff := cmp.Diff(RotateResult{Version: 2, Resealed: 2, Retired: []int{}, Unreadable: []string{}}, res); diff != "" {
		t.Errorf("Rotate() mismatch (-want +got):\n%s", diff)
	}
	second := e.issue("second")
	if diff := cmp.Diff(map[string]int{"legacy": 2, "first": 2, "second": 2}, e.versions()); diff != "" {
		t.Errorf("key versions after rotation (-want +got):\n%s", diff)
	}
	if c, _ := e.st.Credential(ctx, legacy.ID); bytes.Equal(c.SealedSecret, before) {
		t.Errorf("the legacy secret was not sealed again")
	}
	// A restarted server reads both versions from the file.
	e.reload()
	if got := e.keys.Versions(); !cmp.Equal(got, []int{1, 2}) {
		t.Errorf("versions after reload = %v, want [1 2]", got)
	}
	for _, iss := range []Issued{legacy, first, second} {
		if err := e.works(iss); err != nil {
			t.Errorf("credential %s after rotation and restart: %v", iss.Name, err)
		}
	}
	// A credential still sealed with version 1 (a restored backup) opens,
	// as long as version 1 is kept.
	old, _ := e.st.Credential(ctx, first.ID)
	old.KeyVersion, old.SealedSecret = 1, mustSeal(t, e.keys.keys[1], first.ApplicationSecret, first.ID)
	if err := e.st.PutCredential(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := e.works(first); err != nil {
		t.Errorf("credential sealed with the kept version 1: %v", err)
	}
	// Rotating again and retiring the old versions.
	res, err = e.a.Rotate(ctx, true)
	if err != nil {
		t.Fatalf("Rotate(retire) = %v", err)
	}
	if diff := cmp.Diff(RotateResult{Version: 3, Resealed: 3, Retired: []int{1, 2}, Unreadable: []string{}}, res); diff != "" {
		t.Errorf("Rotate(retire) mismatch (-want +got):\n%s", diff)
	}
	e.reload()
	if got := e.keys.Versions(); !cmp.Equal(got, []int{3}) {
		t.Errorf("versions after retiring = %v, want [3]", got)
	}
	for _, iss := range []Issued{legacy, first, second} {
		if err := e.works(iss); err != nil {
			t.Errorf("credential %s after retiring the old versions: %v", iss.Name, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(e.dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(e.dir, KeyFile)); fi.Mode().Perm() != 0o600 || strings.Count(string(raw), "\n3 ") != 1 {
		t.Errorf("key file after rotation: mode %04o, content %q", fi.Mode().Perm(), raw)
	}
}

func mustSeal(t *testing.T, key []byte, secret, id string) []byte {
	t.Helper()
	b, err := Seal(key, []byte(secret), sealedAD(id))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRotateUnreadableKept(t *testing.T) {
	e := newRotationEnv(t)
	ctx := context.Background()
	good := e.issue("good")
	lost := e.issue("lost")
	c, _ := e.st.Credential(ctx, lost.ID)
	c.KeyVersion = 7 // a version this keyring never had
	if err := e.st.PutCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := e.works(lost); err == nil {
		t.Fatalf("a secret sealed with an unknown version authenticated")
	}
	res, err := e.a.Rotate(ctx, true)
	if err != nil {
		t.Fatalf("Rotate() = %v", err)
	}
	if diff := cmp.Diff(RotateResult{Version: 2, Resealed: 1, Retired: []int{1}, Unreadable: []string{lost.ID}}, res); diff != "" {
		t.Errorf("Rotate() mismatch (-want +got):\n%s", diff)
	}
	if err := e.works(good); err != nil {
		t.Errorf("good credential after rotation: %v", err)
	}
}

// TestRotateConcurrent rotates while credentials are issued, revoked and
// used: every credential issued ends up readable, none revoked comes back.
func TestRotateConcurrent(t *testing.T) {
	e := newRotationEnv(t)
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		issued  []Issued
		revoked []string
	)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				iss, err := IssueOVH(ctx, e.st, e.keys, fmt.Sprintf("c%d-%d", g, i), Grant{}, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if err := e.works(iss); err != nil {
					t.Errorf("fresh credential during rotation: %v", err)
				}
				mu.Lock()
				if i%3 == 0 {
					revoked = append(revoked, iss.ID)
					w := serve(e.a.Credentials(), http.MethodDelete, CredentialsPath+"/"+iss.ID, "")
					if w.Code != http.StatusNoContent {
						t.Errorf("revoke = %d", w.Code)
					}
				} else {
					issued = append(issued, iss)
				}
				mu.Unlock()
			}
		}()
	}
	for range 5 {
		if _, err := e.a.Rotate(ctx, true); err != nil {
			t.Fatalf("Rotate() = %v", err)
		}
	}
	wg.Wait()
	for _, iss := range issued {
		if err := e.works(iss); err != nil {
			t.Errorf("credential %s after concurrent rotations: %v", iss.Name, err)
		}
	}
	for _, id := range revoked {
		if _, err := e.st.Credential(ctx, id); err == nil {
			t.Errorf("revoked credential %s came back", id)
		}
	}
}

func TestKeysAPI(t *testing.T) {
	e := newRotationEnv(t)
	e.issue("a")
	h := e.a.Keys()
	w := serve(h, http.MethodPost, KeysPath+"/rotate", `{"retireOld":false}`)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"version":2`) {
		t.Fatalf("POST rotate = %d %s, want 200 version 2", w.Code, w.Body)
	}
	w = serve(h, http.MethodGet, KeysPath, "")
	want := `[{"version":1,"current":false,"credentials":0},{"version":2,"current":true,"credentials":1}]` + "\n"
	if w.Code != http.StatusOK || w.Body.String() != want {
		t.Errorf("GET keys = %d %s, want 200 %s", w.Code, w.Body, want)
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", KeysPath + "/rotate", `{"retire":true}`, 400},
		{"GET", KeysPath + "/rotate", "", 405},
		{"DELETE", KeysPath, "", 405},
		{"GET", KeysPath + "/2", "", 404},
	} {
		if w := serve(h, tc.method, tc.path, tc.body); w.Code != tc.want {
			t.Errorf("%s %s = %d %s, want %d", tc.method, tc.path, w.Code, w.Body, tc.want)
		}
	}
}
