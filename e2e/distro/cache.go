package distro

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultCacheDir is ${BYOI_CACHE_DIR:-$HOME/.cache/byoi-test}: outside the
// clone, so every clone on the machine shares one build.
func DefaultCacheDir() string {
	if d := os.Getenv("BYOI_CACHE_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(os.TempDir(), "byoi-test-cache")
	}
	return filepath.Join(home, ".cache", "byoi-test")
}

// hashKey is the hex SHA-256 of parts, each length-prefixed so that
// ("ab","c") and ("a","bc") differ.
func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cached returns the directory of the cache entry name-key[:16], building it
// first when it does not exist. The build runs in a temporary directory next
// to the entry and is renamed into place only when it succeeded, so a crash
// or a failure never leaves a half-built entry; a file lock per entry makes a
// second builder (another test binary, another clone) wait for the first and
// then reuse its result.
func cached(ctx context.Context, dir, name, key string, build func(tmp string) error) (string, bool, error) {
	entry := filepath.Join(dir, name+"-"+key[:16])
	if _, err := os.Stat(entry); err == nil {
		return entry, true, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("cache dir: %w", err)
	}
	unlock, err := lockFile(ctx, entry+".lock")
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if _, err := os.Stat(entry); err == nil { // built while we waited
		return entry, true, nil
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-"+name+"-")
	if err != nil {
		return "", false, fmt.Errorf("cache: %w", err)
	}
	if err := build(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", false, fmt.Errorf("building %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "key"), []byte(key+"\n"), 0o644); err != nil {
		os.RemoveAll(tmp)
		return "", false, err
	}
	if err := os.Rename(tmp, entry); err != nil {
		os.RemoveAll(tmp)
		return "", false, fmt.Errorf("cache: %w", err)
	}
	return entry, false, nil
}

// lockFile takes an exclusive flock on path, polling so that ctx can end the
// wait. The returned function releases it.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
