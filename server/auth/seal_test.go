package auth

import (
	"bytes"
	"errors"
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
