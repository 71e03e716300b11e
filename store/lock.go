package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is returned by Open when another process holds the store file
// (another `byoi serve` on the same state directory).
var ErrLocked = errors.New("store is in use by another process")

// LockedError says which process holds the store file, when that can be
// told (Linux's /proc/locks names it).
type LockedError struct {
	Path string
	PID  int // 0: unknown
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("byoi is already running (pid %d) with the store %s: stop it first, or use another --state-dir", e.PID, e.Path)
	}
	return fmt.Sprintf("byoi is already running with the store %s (another process holds its lock): stop it first, or use another --state-dir", e.Path)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// lockedError builds the error of an Open that timed out on the file lock.
func lockedError(path string, err error) error {
	if !errors.Is(err, bolterrors.ErrTimeout) {
		return err
	}
	abs, aerr := filepath.Abs(path)
	if aerr != nil {
		abs = path
	}
	return &LockedError{Path: abs, PID: lockHolder(path)}
}

// Backup writes a consistent copy of the whole store to w while it stays
// in use (one read transaction: writers are not blocked, and the copy is the
// state as of the transaction's start). It returns the bytes written. The
// copy is a store file: Open reads it as it is. size, when not nil, is told
// the copy's exact length before the first byte is written (an HTTP
// Content-Length).
func (s *Store) Backup(ctx context.Context, w io.Writer, size func(int64)) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if size != nil {
			size(tx.Size())
		}
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// BackupFile writes a consistent copy of the store to path: into a
// temporary file beside it, synced, then renamed, so that path is either the
// old file or a complete copy. The file is created with mode 0600 (it holds
// token hashes and sealed secrets).
func (s *Store) BackupFile(ctx context.Context, path string) (int64, error) {
	return WriteFileAtomic(path, func(w io.Writer) (int64, error) { return s.Backup(ctx, w, nil) })
}

// WriteFileAtomic writes path through fill: into a temporary file in the
// same directory (mode 0600), synced, then renamed over path.
func WriteFileAtomic(path string, fill func(io.Writer) (int64, error)) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	tmp := f.Name()
	fail := func(err error) (int64, error) {
		f.Close()
		os.Remove(tmp)
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	n, err := fill(f)
	if err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("backup to %s: %w", path, err)
	}
	return n, nil
}
