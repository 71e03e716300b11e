package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func testCreateAndGetMachine(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	in := boot.Machine{
		Name: "web-1", MACs: []string{"52-54-00-AA-BB-01", "52:54:00:aa:bb:02"}, IPv4: "198.51.100.10",
		Disk:       boot.DiskHints{Serial: "S1"},
		DiskGroups: map[int]boot.DiskHints{1: {Path: "/dev/sdb"}},
		Created:    t0,
	}
	got, err := s.CreateMachine(ctx, in)
	if err != nil {
		t.Fatalf("CreateMachine() = %v, want nil", err)
	}
	want := in
	want.MACs = []string{"52:54:00:aa:bb:01", "52:54:00:aa:bb:02"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateMachine() mismatch (-want +got):\n%s", diff)
	}
	if in.MACs[0] != "52-54-00-AA-BB-01" {
		t.Errorf("CreateMachine modified the caller's MAC slice: %q", in.MACs[0])
	}
	m, err := s.Machine(ctx, "web-1")
	if err != nil {
		t.Fatalf("Machine(web-1) = %v, want nil", err)
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("Machine(web-1) mismatch (-want +got):\n%s", diff)
	}
	for _, mac := range []string{"52:54:00:aa:bb:01", "52:54:00:AA:BB:02", "52-54-00-aa-bb-02"} {
		m, err := s.MachineByMAC(ctx, mac)
		if err != nil || m.Name != "web-1" {
			t.Errorf("MachineByMAC(%s) = %q, %v, want web-1, nil", mac, m.Name, err)
		}
	}
}

func testMachineConflicts(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a", "52:54:00:00:00:01")
	tests := []struct {
		name string
		m    boot.Machine
	}{
		{"same name", boot.Machine{Name: "a"}},
		{"MAC of another machine", boot.Machine{Name: "b", MACs: []string{"52:54:00:00:00:02", "52:54:00:00:00:01"}}},
		{"MAC in another form", boot.Machine{Name: "c", MACs: []string{"52-54-00-00-00-01"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateMachine(ctx, tc.m)
			if !errors.Is(err, boot.ErrConflict) {
				t.Errorf("CreateMachine(%+v) = %v, want ErrConflict", tc.m, err)
			}
		})
	}
	// A refused create leaves nothing behind, not even the free MAC.
	if _, err := s.MachineByMAC(ctx, "52:54:00:00:00:02"); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("MachineByMAC(free MAC of refused machine) = %v, want ErrNotFound", err)
	}
	if m, err := s.MachineByMAC(ctx, "52:54:00:00:00:01"); err != nil || m.Name != "a" {
		t.Errorf("MachineByMAC(a's MAC) = %q, %v, want a, nil", m.Name, err)
	}
}

func testMachineValidation(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	tests := []struct {
		name string
		m    boot.Machine
	}{
		{"empty name", boot.Machine{}},
		{"name with slash", boot.Machine{Name: "a/b"}},
		{"bad MAC", boot.Machine{Name: "a", MACs: []string{"zz"}}},
		{"MAC twice", boot.Machine{Name: "a", MACs: []string{"52:54:00:00:00:01", "52-54-00-00-00-01"}}},
		{"bad boot mode", boot.Machine{Name: "a", BootMode: "disk"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateMachine(ctx, tc.m)
			if err == nil || errors.Is(err, boot.ErrConflict) {
				t.Errorf("CreateMachine(%+v) = %v, want a validation error", tc.m, err)
			}
		})
	}
	ms, err := s.Machines(ctx)
	if err != nil || len(ms) != 0 {
		t.Errorf("Machines() after invalid creates = %v, %v, want none", ms, err)
	}
}

func testMachinesSorted(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	for _, n := range []string{"c", "a", "b"} {
		mustMachine(t, s, n)
	}
	if _, _, err := s.RecordBoot(ctx, "52:54:00:00:00:09", "pcbios", t0, true); err != nil {
		t.Fatalf("RecordBoot() = %v", err)
	}
	ms, err := s.Machines(ctx)
	if err != nil {
		t.Fatalf("Machines() = %v", err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	want := []string{"a", "b", "c", "discovered-525400000009"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Machines() names mismatch (-want +got):\n%s", diff)
	}
}

func testUpdateMachineIndexes(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	mustMachine(t, s, "a", "52:54:00:00:00:01")
	mustMachine(t, s, "b", "52:54:00:00:00:02")
	got, err := s.UpdateMachine(ctx, "a", func(m *boot.Machine) error {
		m.MACs = []string{"52:54:00:00:00:03"}
		m.BootMode = boot.BootModeLocal
		m.EFIBootloaderPath = `\efi\debian\grubx64.efi`
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateMachine(a) = %v", err)
	}
	if got.BootMode != boot.BootModeLocal || got.EFIBootloaderPath != `\efi\debian\grubx64.efi` {
		t.Errorf("UpdateMachine(a) = %+v, want local boot with EFI path", got)
	}
	if _, err := s.MachineByMAC(ctx, "52:54:00:00:00:01"); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("MachineByMAC(old MAC) = %v, want ErrNotFound", err)
	}
	if m, err := s.MachineByMAC(ctx, "52:54:00:00:00:03"); err != nil || m.Name != "a" {
		t.Errorf("MachineByMAC(new MAC) = %q, %v, want a", m.Name, err)
	}
	_, err = s.UpdateMachine(ctx, "a", func(m *boot.Machine) error {
		m.MACs = append(m.MACs, "52:54:00:00:00:02")
		return nil
	})
	if !errors.Is(err, boot.ErrConflict) {
		t.Errorf("UpdateMachine(a, take b's MAC) = %v, want ErrConflict", err)
	}
	if m, err := s.MachineByMAC(ctx, "52:54:00:00:00:03"); err != nil || m.Name != "a" {
		t.Errorf("MachineByMAC(a's MAC) after refused update = %q, %v, want a", m.Name, err)
	}
	_, err = s.UpdateMachine(ctx, "a", func(m *boot.Machine) error { m.IPv4 = "not-an-ip"; return nil })
	if err == nil {
		t.Errorf("UpdateMachine(a, bad IPv4) = nil, want a validation error")
	}
	sentinel := errors.New("changed my mind")
	if _, err := s.UpdateMachine(ctx, "a", func(*boot.Machine) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("UpdateMachine(fn fails) = %v, want fn's error", err)
	}
	if m, _ := s.Machine(ctx, "a"); m.IPv4 != "" || len(m.MACs) != 1 {
		t.Errorf("Machine(a) after refused updates = %+v, want unchanged", m)
	}
}
