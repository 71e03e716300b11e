package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Keyring holds the versions of the server key. The newest version seals
// new secrets; every version it still holds opens the secrets sealed with
// it, so that the key can be rotated without losing a credential: Rotate
// adds a version and re-seals every stored secret with it.
//
// On disk (KeyFile, mode 0600) one line per version: "VERSION HEX", e.g.
// "2 9f86d0…". A file holding a single bare hex key, as servers before
// key versions wrote it, is version 1.
type Keyring struct {
	path string // "" for a keyring that lives in memory only

	// mu is held for reading while a secret is sealed and stored, and for
	// writing by a rotation, so that no secret is sealed with a version a
	// rotation is about to retire.
	mu      sync.RWMutex
	keys    map[int][]byte
	current int
}

// NewKeyring returns an in-memory keyring whose only version, 1, is key
// (for tests and tools; a server uses LoadOrCreateKeyring).
func NewKeyring(key []byte) (*Keyring, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("server key is %d bytes, want %d", len(key), KeySize)
	}
	return &Keyring{keys: map[int][]byte{1: append([]byte(nil), key...)}, current: 1}, nil
}

// LoadOrCreateKeyring reads the keyring kept at path, creating it with one
// random key (version 1) when the file does not exist. A file that other
// users can read, or that does not parse, is an error: the keys protect
// every OVH application secret.
func LoadOrCreateKeyring(path string) (*Keyring, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("create server key: %w", err)
		}
		kr := &Keyring{path: path, keys: map[int][]byte{1: key}, current: 1}
		if err := writeSecretFile(path, kr.encode()); err != nil {
			if errors.Is(err, fs.ErrExist) { // another process won the race
				return LoadOrCreateKeyring(path)
			}
			return nil, fmt.Errorf("create server key: %w", err)
		}
		return kr, nil
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
	keys, err := parseKeyring(string(raw))
	if err != nil {
		return nil, fmt.Errorf("server key %s: %w", path, err)
	}
	kr := &Keyring{path: path, keys: keys}
	for v := range keys {
		kr.current = max(kr.current, v)
	}
	return kr, nil
}

// parseKeyring reads the file format described on Keyring.
func parseKeyring(s string) (map[int][]byte, error) {
	keys := map[int][]byte{}
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ver, hexKey, versioned := strings.Cut(line, " ")
		v := 1
		if !versioned {
			hexKey = ver
		} else {
			n, err := strconv.Atoi(ver)
			if err != nil || n < 1 || n > 1_000_000 {
				return nil, fmt.Errorf("line %d: want \"VERSION HEX\" with a version from 1", i+1)
			}
			v = n
		}
		if !versioned && len(keys) > 0 {
			return nil, fmt.Errorf("line %d: want \"VERSION HEX\"", i+1)
		}
		key, err := hex.DecodeString(strings.TrimSpace(hexKey))
		if err != nil || len(key) != KeySize {
			return nil, fmt.Errorf("line %d: want %d hex-encoded bytes", i+1, KeySize)
		}
		if _, dup := keys[v]; dup {
			return nil, fmt.Errorf("line %d: version %d given twice", i+1, v)
		}
		keys[v] = key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("want %d hex-encoded bytes", KeySize)
	}
	return keys, nil
}

// encode renders the keyring in its file format, oldest version first.
func (k *Keyring) encode() string {
	var b strings.Builder
	b.WriteString("# byoi server keys: VERSION HEX, the highest version seals new secrets\n")
	for _, v := range k.versionsLocked() {
		fmt.Fprintf(&b, "%d %s\n", v, hex.EncodeToString(k.keys[v]))
	}
	return b.String()
}

// Current is the version that seals new secrets.
func (k *Keyring) Current() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Versions lists the versions held, oldest first.
func (k *Keyring) Versions() []int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.versionsLocked()
}

func (k *Keyring) versionsLocked() []int {
	vs := make([]int, 0, len(k.keys))
	for v := range k.keys {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// SealCurrent seals plain with the current version, bound to additional
// (e.g. the owner's ID), and returns that version with the sealed bytes.
func (k *Keyring) SealCurrent(plain, additional []byte) (int, []byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.sealLocked(plain, additional)
}

// OpenVersion opens a secret sealed with version (0 stands for 1).
func (k *Keyring) OpenVersion(version int, sealed, additional []byte) ([]byte, error) {
	return k.open(version, sealed, additional)
}

// sealLocked seals with the current version; the caller holds k.mu.
func (k *Keyring) sealLocked(plain, additional []byte) (int, []byte, error) {
	sealed, err := Seal(k.keys[k.current], plain, additional)
	return k.current, sealed, err
}

// open opens a secret sealed with version (0 stands for 1).
func (k *Keyring) open(version int, sealed, additional []byte) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.openLocked(version, sealed, additional)
}

func (k *Keyring) openLocked(version int, sealed, additional []byte) ([]byte, error) {
	if version == 0 {
		version = 1
	}
	key, ok := k.keys[version]
	if !ok {
		return nil, fmt.Errorf("server key version %d is not in the keyring: %w", version, ErrSealed)
	}
	return Open(key, sealed, additional)
}

// addLocked makes a new random version current and saves the keyring
// before anything is sealed with it. The caller holds k.mu for writing.
func (k *Keyring) addLocked() (int, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return 0, fmt.Errorf("new server key: %w", err)
	}
	v := k.current + 1
	k.keys[v] = key
	if err := k.saveLocked(); err != nil {
		delete(k.keys, v)
		return 0, err
	}
	k.current = v
	return v, nil
}

// retireLocked drops the versions not in keep (the current one is always
// kept) and saves the keyring; it returns the versions dropped.
func (k *Keyring) retireLocked(keep map[int]bool) ([]int, error) {
	var dropped []int
	old := map[int][]byte{}
	for _, v := range k.versionsLocked() {
		if v != k.current && !keep[v] {
			dropped = append(dropped, v)
			old[v] = k.keys[v]
			delete(k.keys, v)
		}
	}
	if len(dropped) == 0 {
		return nil, nil
	}
	if err := k.saveLocked(); err != nil {
		for v, key := range old {
			k.keys[v] = key
		}
		return nil, err
	}
	return dropped, nil
}

func (k *Keyring) saveLocked() error {
	if k.path == "" {
		return nil
	}
	if err := replaceSecretFile(k.path, k.encode()); err != nil {
		return fmt.Errorf("save server keys: %w", err)
	}
	return nil
}
