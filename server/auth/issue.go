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
func IssueToken(ctx context.Context, st Store, name string, now time.Time) (Issued, error) {
	if err := validateName(name); err != nil {
		return Issued{}, err
	}
	token, id, err := newToken()
	if err != nil {
		return Issued{}, fmt.Errorf("issue token: %w", err)
	}
	c := boot.Credential{ID: id, Kind: boot.CredentialToken, Name: name, SecretHash: HashToken(token), Created: now.UTC()}
	if err := st.PutCredential(ctx, c); err != nil {
		return Issued{}, fmt.Errorf("issue token: %w", err)
	}
	return Issued{ID: id, Kind: c.Kind, Name: name, Created: c.Created, Token: token}, nil
}

// IssueOVH creates and stores an OVH credential: an application key (the
// ID), an application secret (stored sealed with key) and a consumer key.
func IssueOVH(ctx context.Context, st Store, key []byte, name string, now time.Time) (Issued, error) {
	if err := validateName(name); err != nil {
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
	sealed, err := Seal(key, []byte(secret), sealedAD(appKey))
	if err != nil {
		return Issued{}, fmt.Errorf("issue ovh credential: %w", err)
	}
	c := boot.Credential{ID: appKey, Kind: boot.CredentialOVH, Name: name, ConsumerKey: consumer, SealedSecret: sealed, Created: now.UTC()}
	if err := st.PutCredential(ctx, c); err != nil {
		return Issued{}, fmt.Errorf("issue ovh credential: %w", err)
	}
	return Issued{
		ID: appKey, Kind: c.Kind, Name: name, Created: c.Created,
		ApplicationKey: appKey, ApplicationSecret: secret, ConsumerKey: consumer,
	}, nil
}
