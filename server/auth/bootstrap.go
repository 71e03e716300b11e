package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
)

// AdminTokenFile is the name of the bootstrap admin token file in the state
// dir; the CLI reads it by default when it runs beside the server.
const AdminTokenFile = "admin.token"

// BootstrapName is the name of the credential Bootstrap creates.
const BootstrapName = "admin (bootstrap)"

// Bootstrap makes sure the file at path holds a working admin bearer token.
// When the file is missing, or its token no longer authenticates (revoked,
// or the store was replaced), a new token is issued and the file written
// with mode 0600; created reports that. Revoking the bootstrap token
// through the API therefore rotates it at the next start rather than
// locking the operator out.
func Bootstrap(ctx context.Context, st Store, path string) (created bool, err error) {
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if tokenValid(ctx, st, strings.TrimSpace(string(raw))) {
			return false, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	iss, err := IssueToken(ctx, st, BootstrapName, Grant{}, time.Now())
	if err != nil {
		return false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	if err := replaceSecretFile(path, iss.Token+"\n"); err != nil {
		// Do not leave a credential nobody can use.
		if derr := st.DeleteCredential(ctx, iss.ID); derr != nil {
			err = errors.Join(err, derr)
		}
		return false, fmt.Errorf("bootstrap admin token: %w", err)
	}
	return true, nil
}

func tokenValid(ctx context.Context, st Store, token string) bool {
	id, ok := tokenID(token)
	if !ok {
		return false
	}
	c, err := st.Credential(ctx, id)
	if err != nil || c.Kind != boot.CredentialToken {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(c.SecretHash)) == 1
}

// replaceSecretFile writes content to path (mode 0600) through a temporary
// file in the same directory and a rename, so a reader never sees half a
// token.
func replaceSecretFile(path, content string) error {
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), os.Getpid()))
	os.Remove(tmp)
	if err := writeSecretFile(tmp, content); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// ReadTokenFile reads a token written by Bootstrap.
func ReadTokenFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(raw))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return tok, nil
}
