package rescue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// ErrBadKey is wrapped by CheckKey's errors.
var ErrBadKey = errors.New("not an OpenSSH public key")

// keyLabels are the key types sshd accepts, with the name ssh-keygen -l
// gives them.
var keyLabels = map[string]string{
	"ssh-ed25519":                        "ED25519",
	"ssh-rsa":                            "RSA",
	"ecdsa-sha2-nistp256":                "ECDSA",
	"ecdsa-sha2-nistp384":                "ECDSA",
	"ecdsa-sha2-nistp521":                "ECDSA",
	"sk-ssh-ed25519@openssh.com":         "ED25519-SK",
	"sk-ecdsa-sha2-nistp256@openssh.com": "ECDSA-SK",
}

// maxKey bounds one key line (an RSA 16384 key is about 2.8 KB).
const maxKey = 16 << 10

// parseKey splits "TYPE BASE64 [COMMENT]" and checks the blob names the
// same type.
func parseKey(k string) (typ string, blob []byte, err error) {
	if len(k) > maxKey {
		return "", nil, fmt.Errorf("%w: %d bytes", ErrBadKey, len(k))
	}
	if strings.ContainsAny(k, "\r\n\x00") {
		return "", nil, fmt.Errorf("%w: more than one line", ErrBadKey)
	}
	f := strings.Fields(k)
	if len(f) < 2 {
		return "", nil, fmt.Errorf("%w: want TYPE BASE64 [COMMENT]", ErrBadKey)
	}
	if _, ok := keyLabels[f[0]]; !ok {
		return "", nil, fmt.Errorf("%w: unknown key type %q (options before the key are not accepted)", ErrBadKey, truncate(f[0]))
	}
	blob, err = base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s key data is not base64", ErrBadKey, f[0])
	}
	// The blob starts with the type as an SSH string: uint32 length, bytes.
	if len(blob) < 4 {
		return "", nil, fmt.Errorf("%w: %s key data too short", ErrBadKey, f[0])
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) > uint64(len(blob)-4) || string(blob[4:4+n]) != f[0] {
		return "", nil, fmt.Errorf("%w: %s key data does not hold a %s key", ErrBadKey, f[0], f[0])
	}
	return f[0], blob, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// CheckKey accepts one public key as authorized_keys holds it, without
// options: "ssh-ed25519 AAAA… comment".
func CheckKey(k string) error {
	_, _, err := parseKey(strings.TrimSpace(k))
	return err
}

// Fingerprint returns the key's type as ssh-keygen -l names it (ED25519,
// RSA, ECDSA …) and its SHA-256 fingerprint ("SHA256:…", unpadded base64).
func Fingerprint(pub string) (label, fp string, err error) {
	typ, blob, err := parseKey(strings.TrimSpace(pub))
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(blob)
	return keyLabels[typ], "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// HostKey is one of the rescue system's SSH host keys.
type HostKey struct {
	Label       string // ED25519, ECDSA, RSA
	Fingerprint string // SHA256:…
	Public      string // "ssh-ed25519 AAAA…" without comment
}

// String is "ED25519 SHA256:…".
func (h HostKey) String() string { return h.Label + " " + h.Fingerprint }

// HostKeys makes the host keys that do not exist yet with ssh-keygen and
// returns all of them, Ed25519 first.
func (s System) HostKeys(ctx context.Context) ([]HostKey, error) {
	s = s.withDefaults()
	var out []HostKey
	for _, k := range keyTypes {
		priv := s.path(k.file)
		if _, err := os.Stat(priv); errors.Is(err, os.ErrNotExist) {
			cmd := exec.CommandContext(ctx, s.Keygen, "-q", "-t", k.name, "-N", "", "-C", "byoi-rescue", "-f", priv)
			if b, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("rescue: make the %s host key: %s: %w: %s", k.name, s.Keygen, err, bytes.TrimSpace(b))
			}
		} else if err != nil {
			return nil, fmt.Errorf("rescue: host key: %w", err)
		}
		b, err := os.ReadFile(priv + ".pub")
		if err != nil {
			return nil, fmt.Errorf("rescue: host key: %w", err)
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			return nil, fmt.Errorf("rescue: host key %s.pub: %w", priv, ErrBadKey)
		}
		label, fp, err := Fingerprint(f[0] + " " + f[1])
		if err != nil {
			return nil, fmt.Errorf("rescue: host key %s.pub: %w", priv, err)
		}
		out = append(out, HostKey{Label: label, Fingerprint: fp, Public: f[0] + " " + f[1]})
	}
	return out, nil
}
