package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealRoundTrip(t *testing.T) {
	secret := []byte("AbCdEfGhIjKlMnOpQrStUvWxYz012345")
	sealed, err := Seal(testKey, secret, sealedAD("app1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatalf("sealed bytes contain the secret")
	}
	got, err := Open(testKey, sealed, sealedAD("app1"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open(Seal(x)) = %q, %v, want %q", got, err, secret)
	}
	again, _ := Seal(testKey, secret, sealedAD("app1"))
	if bytes.Equal(again, sealed) {
		t.Errorf("two seals of the same secret are equal: nonce not random")
	}
	otherKey := bytes.Repeat([]byte{9}, KeySize)
	for _, tc := range []struct {
		name   string
		key    []byte
		sealed func() []byte
		ad     string
	}{
		{"flipped ciphertext byte", testKey, func() []byte { b := bytes.Clone(sealed); b[15] ^= 1; return b }, "app1"},
		{"flipped nonce byte", testKey, func() []byte { b := bytes.Clone(sealed); b[0] ^= 0x80; return b }, "app1"},
		{"flipped tag byte", testKey, func() []byte { b := bytes.Clone(sealed); b[len(b)-1] ^= 1; return b }, "app1"},
		{"truncated", testKey, func() []byte { return sealed[:len(sealed)-1] }, "app1"},
		{"too short", testKey, func() []byte { return sealed[:10] }, "app1"},
		{"moved to another credential", testKey, func() []byte { return sealed }, "app2"},
		{"other server key", otherKey, func() []byte { return sealed }, "app1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := Open(tc.key, tc.sealed(), sealedAD(tc.ad)); !errors.Is(err, ErrSealed) {
				t.Errorf("Open() = %q, %v, want ErrSealed", got, err)
			}
		})
	}
	if _, err := Seal([]byte("short"), secret, nil); err == nil {
		t.Errorf("Seal(5-byte key) = nil error, want an error")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	k1, err := LoadOrCreateKey(path)
	if err != nil || len(k1) != KeySize {
		t.Fatalf("LoadOrCreateKey(new) = %d bytes, %v", len(k1), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", got)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("LoadOrCreateKey(existing) = %x, %v, want %x", k2, err, k1)
	}
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable by others", hex.EncodeToString(k1), 0o644, "accessible to other users"},
		{"not hex", strings.Repeat("zz", 32), 0o600, "hex-encoded"},
		{"too short", hex.EncodeToString(k1[:16]), 0o600, "hex-encoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			if _, err := LoadOrCreateKey(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadOrCreateKey(%s) = %v, want an error containing %q", tc.name, err, tc.want)
			}
		})
	}
	if _, err := LoadOrCreateKey(filepath.Join(dir, "missing-dir", KeyFile)); err == nil {
		t.Errorf("LoadOrCreateKey(in a missing dir) = nil error, want an error")
	}
}
