package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func testRenameMachine(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	d, _, err := s.RecordBoot(ctx, "52:54:00:00:00:07", "efi/x86_64", t0, true)
	if err != nil {
		t.Fatalf("RecordBoot() = %v", err)
	}
	if _, err := s.AppendEvent(ctx, boot.Event{Machine: d.Name, Kind: boot.EventDiscovered, Time: t0}); err != nil {
		t.Fatalf("AppendEvent() = %v", err)
	}
	mustMachine(t, s, "taken")
	_, err = s.UpdateMachine(ctx, d.Name, func(m *boot.Machine) error { m.Name = "taken"; return nil })
	if !errors.Is(err, boot.ErrConflict) {
		t.Errorf("UpdateMachine(rename to a taken name) = %v, want ErrConflict", err)
	}
	got, err := s.UpdateMachine(ctx, d.Name, func(m *boot.Machine) error {
		m.Name, m.Discovered = "db-1", false
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateMachine(adopt) = %v", err)
	}
	if got.Name != "db-1" || got.Discovered {
		t.Errorf("UpdateMachine(adopt) = %+v, want db-1, not discovered", got)
	}
	if _, err := s.Machine(ctx, d.Name); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("Machine(old name) = %v, want ErrNotFound", err)
	}
	if m, err := s.MachineByMAC(ctx, "52:54:00:00:00:07"); err != nil || m.Name != "db-1" {
		t.Errorf("MachineByMAC() after rename = %q, %v, want db-1", m.Name, err)
	}
	es, err := s.Events(ctx, "db-1", 0)
	if err != nil || len(es) != 1 || es[0].Machine != "db-1" {
		t.Errorf("Events(db-1) after rename = %+v, %v, want the discovered event, renamed", es, err)
	}
	task := mustTask(t, s, "db-1", boot.StatusTodo)
	_, err = s.UpdateMachine(ctx, "db-1", func(m *boot.Machine) error { m.Name = "db-2"; return nil })
	if !errors.Is(err, boot.ErrConflict) {
		t.Errorf("UpdateMachine(rename with active task) = %v, want ErrConflict", err)
	}
	if _, err := s.UpdateTask(ctx, task.ID, func(t *boot.Task) error { return SetStatus(t, boot.StatusCancelled, t0) }); err != nil {
		t.Fatalf("UpdateTask(cancel) = %v", err)
	}
	if _, err := s.UpdateMachine(ctx, "db-1", func(m *boot.Machine) error { m.Name = "db-2"; return nil }); err != nil {
		t.Fatalf("UpdateMachine(rename, no active task) = %v", err)
	}
	ts, err := s.Tasks(ctx, "db-2")
	if err != nil || len(ts) != 1 || ts[0].ID != task.ID || ts[0].Machine != "db-2" {
		t.Errorf("Tasks(db-2) = %+v, %v, want task %d with machine db-2", ts, err, task.ID)
	}
}

func testDeleteMachine(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a", "52:54:00:00:00:01")
	task := mustTask(t, s, "a", boot.StatusTodo)
	if err := s.DeleteMachine(ctx, "a"); !errors.Is(err, boot.ErrConflict) {
		t.Errorf("DeleteMachine(a with active task) = %v, want ErrConflict", err)
	}
	_, err := s.UpdateTask(ctx, task.ID, func(t *boot.Task) error {
		t.TokenHash = "aa11"
		return SetStatus(t, boot.StatusDone, t0)
	})
	if err != nil {
		t.Fatalf("UpdateTask(done) = %v", err)
	}
	if _, err := s.AppendEvent(ctx, boot.Event{Machine: "a", Kind: boot.EventTaskDone}); err != nil {
		t.Fatalf("AppendEvent() = %v", err)
	}
	if err := s.DeleteMachine(ctx, "a"); err != nil {
		t.Fatalf("DeleteMachine(a) = %v", err)
	}
	checks := []struct {
		name string
		err  error
	}{
		{"Machine", func() error { _, err := s.Machine(ctx, "a"); return err }()},
		{"MachineByMAC", func() error { _, err := s.MachineByMAC(ctx, "52:54:00:00:00:01"); return err }()},
		{"Task", func() error { _, err := s.Task(ctx, task.ID); return err }()},
		{"TaskByTokenHash", func() error { _, err := s.TaskByTokenHash(ctx, "aa11"); return err }()},
		{"DeleteMachine again", s.DeleteMachine(ctx, "a")},
	}
	for _, c := range checks {
		if !errors.Is(c.err, boot.ErrNotFound) {
			t.Errorf("%s after delete = %v, want ErrNotFound", c.name, c.err)
		}
	}
	// The name and MAC are free again, with an empty history.
	mustMachine(t, s, "a", "52:54:00:00:00:01")
	ts, err := s.Tasks(ctx, "a")
	if err != nil || len(ts) != 0 {
		t.Errorf("Tasks(recreated a) = %+v, %v, want none", ts, err)
	}
	es, err := s.Events(ctx, "a", 0)
	if err != nil || len(es) != 0 {
		t.Errorf("Events(recreated a) = %+v, %v, want none", es, err)
	}
}

func testDiscovered(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	if _, _, err := s.RecordBoot(ctx, "52-54-00-AB-CD-EF", "pcbios/i386", t0, false); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("RecordBoot(unknown, create false) = %v, want ErrNotFound", err)
	}
	if ms, _ := s.Machines(ctx); len(ms) != 0 {
		t.Errorf("Machines() after RecordBoot(create false) = %d machines, want none", len(ms))
	}
	m, created, err := s.RecordBoot(ctx, "52-54-00-AB-CD-EF", "pcbios/i386", t0, true)
	if err != nil || !created {
		t.Fatalf("RecordBoot() = created %v, %v; want created, nil", created, err)
	}
	want := boot.Machine{
		Name: "discovered-525400abcdef", MACs: []string{"52:54:00:ab:cd:ef"}, Discovered: true,
		LastSeen: t0, LastClient: "pcbios/i386", Created: t0,
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("RecordBoot() mismatch (-want +got):\n%s", diff)
	}
	later := t0.Add(90e9)
	m, created, err = s.RecordBoot(ctx, "52:54:00:ab:cd:ef", "efi/x86_64", later, true)
	if err != nil || created {
		t.Fatalf("RecordBoot(again) = created %v, %v; want not created, nil", created, err)
	}
	want.LastSeen, want.LastClient = later, "efi/x86_64"
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("RecordBoot(again) mismatch (-want +got):\n%s", diff)
	}
	ms, _ := s.Machines(ctx)
	if len(ms) != 1 {
		t.Errorf("Machines() after two sightings = %d machines, want 1", len(ms))
	}
	if _, _, err := s.RecordBoot(ctx, "nonsense", "", t0, true); err == nil {
		t.Errorf("RecordBoot(nonsense) = nil, want an error")
	}
}

func testRecordBootKnown(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "known", "52:54:00:00:00:01")
	for _, create := range []bool{false, true} {
		m, created, err := s.RecordBoot(ctx, "52:54:00:00:00:01", "efi/arm64", t0, create)
		if err != nil || created || m.Name != "known" || m.Discovered {
			t.Errorf("RecordBoot(known MAC, create %v) = %s created %v, %v; want known, not created", create, m.Name, created, err)
		}
	}
	m, _ := s.Machine(ctx, "known")
	if !m.LastSeen.Equal(t0) || m.LastClient != "efi/arm64" {
		t.Errorf("Machine(known) after RecordBoot = %v %q, want %v efi/arm64", m.LastSeen, m.LastClient, t0)
	}
}
