package auth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// KeySize is the size of the server key: AES-256.
const KeySize = 32

// KeyFile is the name of the server key file in the state dir.
const KeyFile = "server.key"

// ErrSealed is returned when a sealed secret cannot be opened: the wrong
// key, or a ciphertext that was tampered with.
var ErrSealed = errors.New("sealed secret cannot be opened (wrong server key or tampered data)")

// LoadOrCreateKey returns the server key kept at path, creating it (32
// random bytes, hex, mode 0600) when the file does not exist. An existing
// file that other users can read, or that does not hold a 32-byte hex key,
// is an error: the key protects every OVH application secret.
func LoadOrCreateKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read server key: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read server key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("server key %s is accessible to other users (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("server key %s: want %d hex-encoded bytes", path, KeySize)
	}
	return key, nil
}

func createKey(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create server key: %w", err)
	}
	if err := writeSecretFile(path, hex.EncodeToString(key)+"\n"); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process won the race
			return LoadOrCreateKey(path)
		}
		return nil, fmt.Errorf("create server key: %w", err)
	}
	return key, nil
}

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
