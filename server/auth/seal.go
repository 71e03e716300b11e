package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
)

// KeySize is the size of the server key: AES-256.
const KeySize = 32

// KeyFile is the name of the server keyring file in the state dir.
const KeyFile = "server.key"

// ErrSealed is returned when a sealed secret cannot be opened: the wrong
// key, or a ciphertext that was tampered with.
var ErrSealed = errors.New("sealed secret cannot be opened (wrong server key or tampered data)")

// writeSecretFile creates path exclusively with mode 0600 and syncs it.
func writeSecretFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// Seal encrypts plaintext with AES-256-GCM under key. additional is
// authenticated but not encrypted: byoi binds each secret to its credential
// ID so a sealed secret cannot be moved to another credential. The result is
// nonce || ciphertext || tag.
func Seal(key, plaintext, additional []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead.Seal(nonce, nonce, plaintext, additional), nil
}

// Open reverses Seal. Any change to the sealed bytes, the key or the
// additional data gives ErrSealed.
func Open(key, sealed, additional []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrSealed
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, ErrSealed
	}
	return plain, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("server key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealedAD is the additional data binding an OVH secret to its credential.
func sealedAD(id string) []byte { return []byte("byoi ovh application secret\x00" + id) }
