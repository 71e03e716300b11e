package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
)

// TestRescueTokenIndex: the rescue token index follows the machine through
// token changes, renames and deletion.
func TestRescueTokenIndex(t *testing.T) {
	ctx := context.Background()
	s := openCaps(t, filepath.Join(t.TempDir(), "byoi.db"), store.Options{BatchDelay: -1})
	if _, err := s.CreateMachine(ctx, boot.Machine{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	set := func(name, hash string) {
		t.Helper()
		if _, err := s.UpdateMachine(ctx, name, func(m *boot.Machine) error {
			m.BootMode, m.Rescue = boot.BootModeRescue, &boot.RescueInfo{TokenHash: hash}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	is := func(hash, want string) {
		t.Helper()
		m, err := s.MachineByRescueToken(ctx, hash)
		switch {
		case want == "" && !errors.Is(err, boot.ErrNotFound):
			t.Errorf("MachineByRescueToken(%s) = %s, %v; want ErrNotFound", hash, m.Name, err)
		case want != "" && (err != nil || m.Name != want):
			t.Errorf("MachineByRescueToken(%s) = %s, %v; want %s", hash, m.Name, err, want)
		}
	}
	set("a", "h1")
	is("h1", "a")
	set("a", "h2")
	is("h1", "")
	is("h2", "a")
	if _, err := s.UpdateMachine(ctx, "a", func(m *boot.Machine) error { m.Name = "b"; return nil }); err != nil {
		t.Fatal(err)
	}
	is("h2", "b")
	if err := s.DeleteMachine(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	is("h2", "")
	is("", "")
}
