package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
)

func newBearer(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://h/api/v1/machines", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestCheckToken(t *testing.T) {
	f := newFixture(t, Options{})
	good := f.token.Token
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == 'A' {
			b[len(b)-1] = 'B'
		} else {
			b[len(b)-1] = 'A'
		}
		return string(b)
	}
	other, _, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header string
		want   string
	}{
		{"good", "Bearer " + good, ""},
		{"lower-case scheme", "bearer " + good, ""},
		{"last character changed", "Bearer " + flip(good), "INVALID_TOKEN"},
		{"well-formed but unknown", "Bearer " + other, "INVALID_TOKEN"},
		{"ID of an OVH credential", "Bearer " + TokenPrefix + f.ovh.ID + good[len(TokenPrefix)+tokenIDLen:], "INVALID_TOKEN"},
		{"no prefix", "Bearer " + strings.TrimPrefix(good, TokenPrefix), "INVALID_TOKEN"},
		{"truncated", "Bearer " + good[:len(good)-1], "INVALID_TOKEN"},
		{"garbage", "Bearer !!!", "INVALID_TOKEN"},
		{"basic auth", "Basic dXNlcjpwYXNz", "NOT_AUTHENTICATED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBearer("")
			r.Header.Set("Authorization", tc.header)
			id, kind, err := f.check(r)
			if got := errCode(err); got != tc.want {
				t.Fatalf("Check(%q) = %v (code %q), want code %q", tc.header, err, got, tc.want)
			}
			if tc.want == "" && (id != f.token.ID || kind != boot.CredentialToken) {
				t.Errorf("Check() = %q, %q, want %q, token", id, kind, f.token.ID)
			}
		})
	}
}

func TestTokenRevoked(t *testing.T) {
	f := newFixture(t, Options{})
	if _, _, err := f.check(newBearer(f.token.Token)); err != nil {
		t.Fatalf("Check(before revoke) = %v", err)
	}
	if err := f.st.DeleteCredential(t.Context(), f.token.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.check(newBearer(f.token.Token)); errCode(err) != "INVALID_TOKEN" {
		t.Fatalf("Check(after revoke) = %v, want INVALID_TOKEN", err)
	}
}

func TestIssuedTokenShape(t *testing.T) {
	f := newFixture(t, Options{})
	tok := f.token
	if !strings.HasPrefix(tok.Token, "byoi_tok-") {
		t.Errorf("token %q does not start with byoi_tok-", tok.Token)
	}
	id, ok := tokenID(tok.Token)
	if !ok || id != tok.ID {
		t.Errorf("tokenID(issued) = %q, %v, want %q, true", id, ok, tok.ID)
	}
	c, err := f.st.Credential(t.Context(), tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretHash != HashToken(tok.Token) || len(c.SecretHash) != 64 {
		t.Errorf("stored hash = %q, want SHA-256 hex of the token", c.SecretHash)
	}
	if strings.Contains(c.SecretHash+c.Name+c.ID, tok.Token[len(TokenPrefix)+tokenIDLen+1:]) {
		t.Errorf("stored credential contains the token's secret part")
	}
	seen := map[string]bool{}
	for range 50 {
		s, err := randAlnum(32)
		if err != nil || len(s) != 32 || strings.Trim(s, alnum) != "" || seen[s] {
			t.Fatalf("randAlnum(32) = %q, %v: want 32 fresh letters and digits", s, err)
		}
		seen[s] = true
	}
}

func FuzzTokenID(f *testing.F) {
	good, _, _ := newToken()
	for _, s := range []string{good, "", "byoi_", "byoi_tok-000000000000_", good[:len(good)-3] + "===", "byoi_xxx-" + good[9:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := tokenID(s)
		if !ok {
			return
		}
		if !strings.HasPrefix(s, TokenPrefix+id+"_") || len(id) != tokenIDLen {
			t.Fatalf("tokenID(%q) = %q: not the token's ID part", s, id)
		}
	})
}
