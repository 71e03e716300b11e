package auth

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/byoi/byoi/boot"
)

// Issued is a credential just created, with its secrets. It is shown once,
// in the answer to the request that created it, and never again.
type Issued struct {
	ID      string              `json:"id"`
	Kind    boot.CredentialKind `json:"kind"`
	Name    string              `json:"name"`
	Created time.Time           `json:"created"`
	// Token is set for a bearer token credential.
	Token string `json:"token,omitempty"`
	// ApplicationKey (= ID), ApplicationSecret and ConsumerKey are set for
	// an OVH credential.
	ApplicationKey    string `json:"applicationKey,omitempty"`
	ApplicationSecret string `json:"applicationSecret,omitempty"`
	ConsumerKey       string `json:"consumerKey,omitempty"`
	// Rules and Expires are what the credential may do and until when.
	Rules   []boot.AccessRule `json:"rules,omitempty"`
	Expires time.Time         `json:"expires,omitzero"`
}

// Grant is what a new credential may do: Rules (none: every call) until
// Expires (zero: forever).
type Grant struct {
	Rules   []boot.AccessRule
	Expires time.Time
}

func (g Grant) validate(now time.Time) error {
	if err := ValidateRules(g.Rules); err != nil {
		return badRequest("Invalid rules: %v", err)
	}
	if !g.Expires.IsZero() && !g.Expires.After(now) {
		return badRequest("Invalid expiry %s: it is already past", g.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// Lengths of OVH-style keys, as OVH issues them.
const (
	appKeyLen      = 16
	appSecretLen   = 32
	consumerKeyLen = 32
)

// validateName checks a credential's human name: 1-100 printable
// characters.
func validateName(name string) error {
	if name == "" {
		return badRequest("Missing parameter: name")
	}
	if len(name) > 100 || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return badRequest("Invalid name %q: 1-100 printable characters", name)
	}
	return nil
}

// IssueToken creates and stores a bearer token credential.
func IssueToken(ctx context.Context, st Store, name string, g Grant, now time.Time) (Issued, error) {
	if err := validateName(name); err != nil {
		return Issued{}, err
	}
	if err := g.validate(now); err != nil {
		return Issued{}, err
	}
	token, id, err := newToken()
	if err != nil {
		return Issued{}, fmt.Errorf("issue token: %w", err)
	}
	c := boot.Credential{
		ID: id, Kind: boot.CredentialToken, Name: name, SecretHash: HashToken(token), Created: now.UTC(),
		Rules: g.Rules, Expires: utc(g.Expires),
	}
	if err := st.PutCredential(ctx, c); err != nil {
		return Issued{}, fmt.Errorf("issue token: %w", err)
	}
	return Issued{ID: id, Kind: c.Kind, Name: name, Created: c.Created, Token: token, Rules: c.Rules, Expires: c.Expires}, nil
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// IssueOVH creates and stores an OVH credential: an application key (the
// ID), an application secret (stored sealed with the keyring's current
// version) and a consumer key.
func IssueOVH(ctx context.Context, st Store, keys *Keyring, name string, g Grant, now time.Time) (Issued, error) {
	if err := validateName(name); err != nil {
		return Issued{}, err
	}
	if err := g.validate(now); err != nil {
		return Issued{}, err
	}
	var parts [3]string
	for i, n := range []int{appKeyLen, appSecretLen, consumerKeyLen} {
		s, err := randAlnum(n)
		if err != nil {
			return Issued{}, fmt.Errorf("issue ovh credential: %w", err)
		}
		parts[i] = s
	}
	appKey, secret, consumer := parts[0], parts[1], parts[2]
	if _, err := st.Credential(ctx, appKey); err == nil {
		return Issued{}, fmt.Errorf("issue ovh credential: application key collision, try again")
	}
	// Sealed and stored under the keyring's read lock: a rotation either
	// sees this credential or happens after it.
	keys.mu.RLock()
	defer keys.mu.RUnlock()
	version, sealed, err := keys.sealLocked([]byte(secret), sealedAD(appKey))
	if err != nil {
		return Issued{}, fmt.Errorf("issue ovh credential: %w", err)
	}
	c := boot.Credential{
		ID: appKey, Kind: boot.CredentialOVH, Name: name, ConsumerKey: consumer, SealedSecret: sealed, KeyVersion: version,
		Created: now.UTC(), Rules: g.Rules, Expires: utc(g.Expires),
	}
	if err := st.PutCredential(ctx, c); err != nil {
		return Issued{}, fmt.Errorf("issue ovh credential: %w", err)
	}
	return Issued{
		ID: appKey, Kind: c.Kind, Name: name, Created: c.Created,
		ApplicationKey: appKey, ApplicationSecret: secret, ConsumerKey: consumer, Rules: c.Rules, Expires: c.Expires,
	}, nil
}
