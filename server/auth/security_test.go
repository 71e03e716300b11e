package auth

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBearerBruteForce: guessing bearer tokens drains the same per-address
// bucket as bad signatures, whatever shape the guesses have; the right
// token is then refused too (429) until the bucket refills, other
// addresses are unaffected, and no guess reaches the log.
func TestBearerBruteForce(t *testing.T) {
	guesses := []struct{ name, token string }{
		{"well-formed, unknown ID", TokenPrefix + "tok-000000000000_" + strings.Repeat("A", 43)},
		{"right ID, wrong secret", f0Placeholder},
		{"malformed", "guess-number-three"},
	}
	f := newFixture(t, Options{FailureBurst: len(guesses), FailureRate: 0.5})
	for _, g := range guesses {
		tok := g.token
		if tok == f0Placeholder {
			tok = f.token.Token[:len(f.token.Token)-4] + "AAAA"
		}
		r := newBearer(tok)
		r.RemoteAddr = "192.0.2.66:4000"
		if _, _, err := f.check(r); errCode(err) != "INVALID_TOKEN" {
			t.Fatalf("Check(%s) = %v, want INVALID_TOKEN", g.name, err)
		}
		if strings.Contains(f.logs.String(), tok) {
			t.Errorf("the log holds the guessed token %q", tok)
		}
	}
	good := newBearer(f.token.Token)
	good.RemoteAddr = "192.0.2.66:4001"
	_, _, err := f.check(good)
	var e *Error
	if errCode(err) != "TOO_MANY_REQUESTS" || !asError(err, &e) || e.Status != http.StatusTooManyRequests || e.RetryAfter != 2*time.Second {
		t.Fatalf("Check(right token after %d guesses) = %#v, want 429 retry 2s", len(guesses), err)
	}
	other := newBearer(f.token.Token)
	other.RemoteAddr = "192.0.2.67:4000"
	if _, _, err := f.check(other); err != nil {
		t.Errorf("Check(right token, other address) = %v, want nil", err)
	}
	f.clock.Add(2 * time.Second)
	if _, _, err := f.check(good); err != nil {
		t.Errorf("Check(right token after the refill) = %v, want nil", err)
	}
	if strings.Contains(f.logs.String(), f.token.Token) {
		t.Errorf("the log holds the admin token")
	}
}

// f0Placeholder marks the guess built from the fixture's own token.
const f0Placeholder = "<right ID, wrong secret>"
