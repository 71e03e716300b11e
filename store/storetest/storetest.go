// Package storetest is the contract every byoi store implementation passes:
// the behaviour of each method, conflicts, indexes after updates and
// deletes, persistence across reopen, and atomic concurrent updates.
//
// An implementation's test calls Run with a function that opens its store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) storetest.Store { … })
//	}
//
// open is called at the start of every subtest and must return an empty
// store for that t. Called again with the same t after the first store was
// closed, it must return a store over the same data (the reopen test).
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// Store is everything the contract exercises.
type Store interface {
	CreateMachine(ctx context.Context, m boot.Machine) (boot.Machine, error)
	Machine(ctx context.Context, name string) (boot.Machine, error)
	MachineByMAC(ctx context.Context, mac string) (boot.Machine, error)
	Machines(ctx context.Context) ([]boot.Machine, error)
	UpdateMachine(ctx context.Context, name string, fn func(*boot.Machine) error) (boot.Machine, error)
	DeleteMachine(ctx context.Context, name string) error
	RecordBoot(ctx context.Context, mac, client string, now time.Time, create bool) (boot.Machine, bool, error)

	CreateTask(ctx context.Context, t boot.Task) (boot.Task, error)
	Task(ctx context.Context, id int64) (boot.Task, error)
	Tasks(ctx context.Context, machine string) ([]boot.Task, error)
	ActiveTask(ctx context.Context, machine string) (boot.Task, error)
	UpdateTask(ctx context.Context, id int64, fn func(*boot.Task) error) (boot.Task, error)
	UpdateTaskMachine(ctx context.Context, id int64, fn func(*boot.Task, *boot.Machine) error) (boot.Task, boot.Machine, error)
	TaskByTokenHash(ctx context.Context, hash string) (boot.Task, error)
	TokenTask(ctx context.Context, hash string) (int64, bool, error)

	AppendTaskLog(ctx context.Context, id int64, b boot.LogBatch, check func(boot.Task) error) (boot.LogAppend, error)
	TaskLog(ctx context.Context, id, from int64, limit int) (boot.TaskLog, error)

	AppendEvent(ctx context.Context, e boot.Event) (boot.Event, error)
	Events(ctx context.Context, machine string, limit int) ([]boot.Event, error)

	Leases(ctx context.Context) ([]boot.Lease, error)
	PutLease(ctx context.Context, l boot.Lease) error
	DeleteLease(ctx context.Context, mac string) error

	PutCredential(ctx context.Context, c boot.Credential) error
	Credential(ctx context.Context, id string) (boot.Credential, error)
	Credentials(ctx context.Context) ([]boot.Credential, error)
	DeleteCredential(ctx context.Context, id string) error
	TouchCredential(ctx context.Context, id string, now time.Time) error

	Close() error
}

// Opener opens a store for a test; see the package comment.
type Opener func(t *testing.T) Store

// Run runs the whole contract as subtests of t.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"CreateAndGetMachine", testCreateAndGetMachine},
		{"MachineConflicts", testMachineConflicts},
		{"MachineValidation", testMachineValidation},
		{"MachinesSorted", testMachinesSorted},
		{"UpdateMachineIndexes", testUpdateMachineIndexes},
		{"RenameMachine", testRenameMachine},
		{"DeleteMachine", testDeleteMachine},
		{"Discovered", testDiscovered},
		{"RecordBootKnown", testRecordBootKnown},
		{"UpdateTaskMachine", testUpdateTaskMachine},
		{"CreateTask", testCreateTask},
		{"SecondActiveTask", testSecondActiveTask},
		{"UpdateTask", testUpdateTask},
		{"TokenIndex", testTokenIndex},
		{"Events", testEvents},
		{"Leases", testLeases},
		{"Credentials", testCredentials},
		{"NotFound", testNotFound},
		{"Reopen", testReopen},
		{"ConcurrentUpdateTask", testConcurrentUpdateTask},
		{"TaskLog", testTaskLog},
		{"TaskLogWindow", testTaskLogWindow},
		{"TaskLogDeleted", testTaskLogDeleted},
		{"ConcurrentTaskLog", testConcurrentTaskLog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// t0 is a fixed time so that results compare exactly.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func openClean(t *testing.T, open Opener) Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func mustMachine(t *testing.T, s Store, name string, macs ...string) boot.Machine {
	t.Helper()
	m, err := s.CreateMachine(context.Background(), boot.Machine{Name: name, MACs: macs, Created: t0})
	if err != nil {
		t.Fatalf("CreateMachine(%s) = %v, want nil", name, err)
	}
	return m
}

func mustTask(t *testing.T, s Store, machine string, st boot.Status) boot.Task {
	t.Helper()
	task, err := s.CreateTask(context.Background(), newTask(machine, st))
	if err != nil {
		t.Fatalf("CreateTask(%s) = %v, want nil", machine, err)
	}
	return task
}

func newTask(machine string, st boot.Status) boot.Task {
	return boot.Task{
		Machine: machine, Function: "reinstallServer", Status: st,
		Spec: boot.InstallSpec{
			OperatingSystem: boot.OSBYOI, ImageURL: "http://198.51.100.1/img.raw", ImageType: "raw",
			HTTPHeaders:         map[string]string{"Authorization": "Basic c2VjcmV0"},
			ConfigDriveUserData: "#cloud-config\n",
		},
		Steps: boot.NewSteps(), Created: t0, LastUpdate: t0,
	}
}

// SetStatus moves a task to next as the lifecycle would, stamping StartDate
// (doing) and DoneDate (final), for tests that need tasks in a given state.
// The store itself checks that the transition is allowed.
func SetStatus(t *boot.Task, next boot.Status, now time.Time) error {
	if next == boot.StatusDoing && t.StartDate.IsZero() {
		t.StartDate = now
	}
	if next.Final() {
		t.DoneDate = now
	}
	t.Status, t.LastUpdate = next, now
	return nil
}
