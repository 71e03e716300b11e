package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func testEvents(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	var last uint64
	for i, m := range []string{"a", "b", "a", "a", "ab", "a"} {
		e, err := s.AppendEvent(ctx, boot.Event{Machine: m, Kind: boot.EventStep, Message: m, Time: t0.Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatalf("AppendEvent(%s) = %v", m, err)
		}
		if e.Seq <= last {
			t.Errorf("AppendEvent(%s).Seq = %d, want > %d", m, e.Seq, last)
		}
		last = e.Seq
	}
	times := func(es []boot.Event) []int {
		var out []int
		for _, e := range es {
			out = append(out, int(e.Time.Sub(t0)/time.Second))
		}
		return out
	}
	tests := []struct {
		machine string
		limit   int
		want    []int // seconds after t0, oldest first
	}{
		{"a", 0, []int{0, 2, 3, 5}},
		{"a", 2, []int{3, 5}},
		{"a", 10, []int{0, 2, 3, 5}},
		{"b", 0, []int{1}},
		{"ab", 1, []int{4}},
		{"c", 0, nil},
	}
	for _, tc := range tests {
		es, err := s.Events(ctx, tc.machine, tc.limit)
		if err != nil {
			t.Errorf("Events(%s, %d) = %v", tc.machine, tc.limit, err)
			continue
		}
		if diff := cmp.Diff(tc.want, times(es)); diff != "" {
			t.Errorf("Events(%s, %d) mismatch (-want +got):\n%s", tc.machine, tc.limit, diff)
		}
	}
	if _, err := s.AppendEvent(ctx, boot.Event{Machine: "bad\x00name"}); err == nil {
		t.Errorf("AppendEvent(machine with NUL) = nil, want an error")
	}
}

func testLeases(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	in := []boot.Lease{
		{MAC: "52:54:00:00:00:02", IP: "198.51.100.12", Expires: t0},
		{MAC: "52-54-00-00-00-01", IP: "198.51.100.11", Hostname: "a", Expires: t0},
	}
	for _, l := range in {
		if err := s.PutLease(ctx, l); err != nil {
			t.Fatalf("PutLease(%s) = %v", l.MAC, err)
		}
	}
	if err := s.PutLease(ctx, boot.Lease{MAC: "52:54:00:00:00:02", IP: "198.51.100.13", Expires: t0}); err != nil {
		t.Fatalf("PutLease(replace) = %v", err)
	}
	got, err := s.Leases(ctx)
	if err != nil {
		t.Fatalf("Leases() = %v", err)
	}
	want := []boot.Lease{
		{MAC: "52:54:00:00:00:01", IP: "198.51.100.11", Hostname: "a", Expires: t0},
		{MAC: "52:54:00:00:00:02", IP: "198.51.100.13", Expires: t0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Leases() mismatch (-want +got):\n%s", diff)
	}
	if err := s.PutLease(ctx, boot.Lease{MAC: "bogus"}); err == nil {
		t.Errorf("PutLease(bogus MAC) = nil, want an error")
	}
	if err := s.DeleteLease(ctx, "52:54:00:00:00:01"); err != nil {
		t.Fatalf("DeleteLease() = %v", err)
	}
	if err := s.DeleteLease(ctx, "52:54:00:00:00:01"); !errors.Is(err, boot.ErrNotFound) {
		t.Errorf("DeleteLease(again) = %v, want ErrNotFound", err)
	}
	if got, _ := s.Leases(ctx); len(got) != 1 || got[0].MAC != "52:54:00:00:00:02" {
		t.Errorf("Leases() after delete = %+v, want only ...:02", got)
	}
}

func testCredentials(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	tok := boot.Credential{ID: "tok1", Kind: boot.CredentialToken, Name: "ci", SecretHash: "abcd", Created: t0.Add(time.Hour)}
	ovh := boot.Credential{ID: "appkey", Kind: boot.CredentialOVH, Name: "ovh", ConsumerKey: "ck", SealedSecret: []byte{1, 2, 3}, Created: t0}
	for _, c := range []boot.Credential{tok, ovh} {
		if err := s.PutCredential(ctx, c); err != nil {
			t.Fatalf("PutCredential(%s) = %v", c.ID, err)
		}
	}
	if err := s.PutCredential(ctx, boot.Credential{}); err == nil {
		t.Errorf("PutCredential(empty ID) = nil, want an error")
	}
	got, err := s.Credential(ctx, "appkey")
	if err != nil {
		t.Fatalf("Credential(appkey) = %v", err)
	}
	if diff := cmp.Diff(ovh, got); diff != "" {
		t.Errorf("Credential(appkey) mismatch (-want +got):\n%s", diff)
	}
	all, err := s.Credentials(ctx)
	if err != nil {
		t.Fatalf("Credentials() = %v", err)
	}
	if diff := cmp.Diff([]boot.Credential{ovh, tok}, all); diff != "" {
		t.Errorf("Credentials() oldest first mismatch (-want +got):\n%s", diff)
	}
	used := t0.Add(2 * time.Hour)
	if err := s.TouchCredential(ctx, "tok1", used); err != nil {
		t.Fatalf("TouchCredential() = %v", err)
	}
	if c, _ := s.Credential(ctx, "tok1"); !c.LastUsed.Equal(used) {
		t.Errorf("Credential(tok1).LastUsed = %v, want %v", c.LastUsed, used)
	}
	if err := s.DeleteCredential(ctx, "tok1"); err != nil {
		t.Fatalf("DeleteCredential() = %v", err)
	}
	for name, err := range map[string]error{
		"Credential(deleted)":       func() error { _, err := s.Credential(ctx, "tok1"); return err }(),
		"DeleteCredential(deleted)": s.DeleteCredential(ctx, "tok1"),
		"TouchCredential(deleted)":  s.TouchCredential(ctx, "tok1", used),
		"Credential(empty)":         func() error { _, err := s.Credential(ctx, ""); return err }(),
	} {
		if !errors.Is(err, boot.ErrNotFound) {
			t.Errorf("%s = %v, want ErrNotFound", name, err)
		}
	}
}

func testNotFound(t *testing.T, open Opener) {
	ctx := context.Background()
	s := openClean(t, open)
	noop := func(*boot.Machine) error { return nil }
	checks := map[string]func() error{
		"Machine":           func() error { _, err := s.Machine(ctx, "x"); return err },
		"MachineByMAC":      func() error { _, err := s.MachineByMAC(ctx, "52:54:00:00:00:01"); return err },
		"MachineByMAC(bad)": func() error { _, err := s.MachineByMAC(ctx, "not a mac"); return err },
		"UpdateMachine":     func() error { _, err := s.UpdateMachine(ctx, "x", noop); return err },
		"DeleteMachine":     func() error { return s.DeleteMachine(ctx, "x") },
		"Task":              func() error { _, err := s.Task(ctx, 1); return err },
		"Task(0)":           func() error { _, err := s.Task(ctx, 0); return err },
		"Tasks":             func() error { _, err := s.Tasks(ctx, "x"); return err },
		"ActiveTask":        func() error { _, err := s.ActiveTask(ctx, "x"); return err },
		"TaskByTokenHash":   func() error { _, err := s.TaskByTokenHash(ctx, "h"); return err },
	}
	for name, f := range checks {
		if err := f(); !errors.Is(err, boot.ErrNotFound) {
			t.Errorf("%s on an empty store = %v, want ErrNotFound", name, err)
		}
	}
}
