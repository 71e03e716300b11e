package boot

import "time"

// CredentialKind tells the two kinds of API credentials apart.
type CredentialKind string

// Credential kinds.
const (
	// CredentialOVH: an OVH application key + secret + consumer key, used
	// with the X-Ovh-* signature headers.
	CredentialOVH CredentialKind = "ovh"
	// CredentialToken: a bearer token for the native API and CLI.
	CredentialToken CredentialKind = "token"
)

// Credential is an API credential as stored. Secrets are never stored in
// clear: bearer tokens as a SHA-256 hash, OVH application secrets sealed
// (encrypted with the server's key), because the OVH signature needs the
// secret itself to be checked.
type Credential struct {
	ID          string         `json:"id"` // for OVH: the application key; for tokens: a random ID
	Kind        CredentialKind `json:"kind"`
	Name        string         `json:"name"`
	ConsumerKey string         `json:"consumerKey,omitempty"` // OVH only; not secret on its own
	// SecretHash is hex SHA-256 of a bearer token.
	SecretHash string `json:"secretHash,omitempty"`
	// SealedSecret is the OVH application secret encrypted with the server key.
	SealedSecret []byte `json:"sealedSecret,omitempty"`
	// KeyVersion is the version of the server key that sealed SealedSecret;
	// 0 stands for version 1, the key of servers that had only one.
	KeyVersion int       `json:"keyVersion,omitempty"`
	Created    time.Time `json:"created"`
	LastUsed   time.Time `json:"lastUsed,omitzero"`
	// Rules limit what the credential may call, as OVH's access rules do
	// (a method and a path pattern each); none means every call.
	Rules []AccessRule `json:"rules,omitempty"`
	// Expires is when the credential stops working; zero means never.
	Expires time.Time `json:"expires,omitzero"`
}

// AccessRule allows one HTTP method on the API paths matching Path, where
// "*" stands for any run of characters, "/" included: {"GET", "/*"},
// {"POST", "/dedicated/server/*/reinstall"}. Paths are those of the OVH API
// below its version prefix (/1.0 or /v1); other routes are matched with
// their whole path.
type AccessRule struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}
