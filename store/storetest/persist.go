package storetest

import (
	"context"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

// snapshot is everything a reopened store must still know.
type snapshot struct {
	Machines    []boot.Machine
	Tasks       []boot.Task
	Active      boot.Task
	ByMAC       string
	ByToken     int64
	Events      []boot.Event
	Leases      []boot.Lease
	Credentials []boot.Credential
}

func takeSnapshot(t *testing.T, s Store) snapshot {
	t.Helper()
	ctx := context.Background()
	var snap snapshot
	var err error
	steps := []struct {
		name string
		fn   func() error
	}{
		{"Machines", func() error { snap.Machines, err = s.Machines(ctx); return err }},
		{"Tasks", func() error { snap.Tasks, err = s.Tasks(ctx, "a"); return err }},
		{"ActiveTask", func() error { snap.Active, err = s.ActiveTask(ctx, "a"); return err }},
		{"MachineByMAC", func() error { m, err := s.MachineByMAC(ctx, "52:54:00:00:00:01"); snap.ByMAC = m.Name; return err }},
		{"TaskByTokenHash", func() error { tk, err := s.TaskByTokenHash(ctx, "feed"); snap.ByToken = tk.ID; return err }},
		{"Events", func() error { snap.Events, err = s.Events(ctx, "a", 0); return err }},
		{"Leases", func() error { snap.Leases, err = s.Leases(ctx); return err }},
		{"Credentials", func() error { snap.Credentials, err = s.Credentials(ctx); return err }},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			t.Fatalf("%s() = %v", st.name, err)
		}
	}
	return snap
}

func testReopen(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t)
	mustMachine(t, s, "a", "52:54:00:00:00:01")
	if _, _, err := s.RecordBoot(ctx, "52:54:00:00:00:09", "pcbios", t0, true); err != nil {
		t.Fatalf("RecordBoot() = %v", err)
	}
	old := mustTask(t, s, "a", boot.StatusTodo)
	if _, err := s.UpdateTask(ctx, old.ID, func(t *boot.Task) error { return SetStatus(t, boot.StatusDone, t0) }); err != nil {
		t.Fatalf("UpdateTask(done) = %v", err)
	}
	task := mustTask(t, s, "a", boot.StatusTodo)
	if _, err := s.UpdateTask(ctx, task.ID, func(t *boot.Task) error {
		t.TokenHash = "feed"
		return SetStatus(t, boot.StatusDoing, t0)
	}); err != nil {
		t.Fatalf("UpdateTask(doing) = %v", err)
	}
	if _, err := s.AppendEvent(ctx, boot.Event{Machine: "a", Kind: boot.EventInstallerUp, TaskID: task.ID, Time: t0}); err != nil {
		t.Fatalf("AppendEvent() = %v", err)
	}
	if err := s.PutLease(ctx, boot.Lease{MAC: "52:54:00:00:00:01", IP: "198.51.100.10", Expires: t0}); err != nil {
		t.Fatalf("PutLease() = %v", err)
	}
	if err := s.PutCredential(ctx, boot.Credential{ID: "k", Kind: boot.CredentialToken, SecretHash: "ab", Created: t0}); err != nil {
		t.Fatalf("PutCredential() = %v", err)
	}
	before := takeSnapshot(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	s = openClean(t, open)
	after := takeSnapshot(t, s)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("state after reopen mismatch (-before +after):\n%s", diff)
	}
	if after.ByMAC != "a" || after.ByToken != task.ID || after.Active.ID != task.ID || len(after.Machines) != 2 {
		t.Errorf("reopened indexes = %q, %d, %d, %d machines; want a, %d, %d, 2", after.ByMAC, after.ByToken, after.Active.ID, len(after.Machines), task.ID, task.ID)
	}
	// Sequences continue after reopen: no ID is handed out twice.
	mustMachine(t, s, "b")
	next := mustTask(t, s, "b", boot.StatusTodo)
	if next.ID <= task.ID {
		t.Errorf("task ID after reopen = %d, want > %d", next.ID, task.ID)
	}
	e, err := s.AppendEvent(ctx, boot.Event{Machine: "b", Kind: boot.EventTaskCreated})
	if err != nil || e.Seq <= before.Events[len(before.Events)-1].Seq {
		t.Errorf("AppendEvent() after reopen = seq %d, %v, want > %d", e.Seq, err, before.Events[len(before.Events)-1].Seq)
	}
}
