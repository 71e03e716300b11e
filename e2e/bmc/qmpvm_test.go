package bmc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/byoi/byoi/server/power"
)

// TestQMPDriverVM drives a QEMU VM through its QMP socket with byoi's qmp
// driver: the state it reports, the boot the VM makes (from its serial log),
// one-time PXE that does not outlive one boot, and QEMU's own answers.
func TestQMPDriverVM(t *testing.T) {
	need(t, "qemu-system-x86_64")
	code, vars := ovmf(t)
	lockVMs(t)
	vm, err := StartQMPVM(VMSpec{Dir: t.TempDir(), OVMFCode: code, OVMFVars: vars})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	ctx := context.Background()
	d, err := power.New(power.Config{Driver: "qmp", Address: vm.QMP}, power.Options{Machine: "vm-qmp"})
	if err != nil {
		t.Fatal(err)
	}
	// status reads QEMU's run state with our own QMP connection.
	status := func() string {
		t.Helper()
		q, err := power.DialQMP(ctx, vm.QMP, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		var st struct{ Status string }
		if err := q.Execute(ctx, "query-status", nil, &st); err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	state := func(want power.State, wantStatus ...string) {
		t.Helper()
		got, err := d.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := status()
		ok := false
		for _, w := range wantStatus {
			ok = ok || st == w
		}
		if got != want || !ok {
			t.Fatalf("State() = %s with QEMU status %q, want %s with one of %v", got, st, want, wantStatus)
		}
	}
	act := func(a power.Action) {
		t.Helper()
		if err := d.Power(ctx, a); err != nil {
			t.Fatalf("Power(%s) = %v", a, err)
		}
	}
	firstBoot := func(off int64, want Boot) {
		t.Helper()
		got, line, err := FirstBoot(vm.Spec.Serial(), off, 90*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("first boot = %s (%q), want %s", got, line, want)
		}
	}

	state(power.Off, "prelaunch")
	if err := d.Power(ctx, power.Reset); !errors.Is(err, power.ErrPoweredOff) {
		t.Fatalf("Power(reset) of a VM that is off = %v, want ErrPoweredOff", err)
	}
	off := SerialSize(vm.Spec.Serial())
	act(power.PowerOn)
	state(power.On, "running")
	firstBoot(off, BootDisk)

	if err := d.PXEOnce(ctx, true); err != nil {
		t.Fatal(err)
	}
	off = SerialSize(vm.Spec.Serial())
	act(power.Cycle)
	state(power.On, "running")
	firstBoot(off, BootNetwork)
	// The VM's own order is back: QEMU reports the original bootindexes.
	q, err := power.DialQMP(ctx, vm.QMP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/machine/peripheral/nic0": 2, "/machine/peripheral/disk0": 1} {
		var got int
		if err := q.Execute(ctx, "qom-get", map[string]any{"path": path, "property": "bootindex"}, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("bootindex of %s after one-time PXE = %d, want %d", path, got, want)
		}
	}
	// QEMU refuses a bootindex another device holds: a QMP error reply.
	err = q.Execute(ctx, "qom-set", map[string]any{"path": "/machine/peripheral/nic0", "property": "bootindex", "value": 1}, nil)
	var qe *power.QMPError
	if !errors.As(err, &qe) || !errors.Is(err, power.ErrRefused) {
		t.Errorf("qom-set of a used bootindex = %v, want a *QMPError wrapping ErrRefused", err)
	}
	q.Close()

	off = SerialSize(vm.Spec.Serial())
	act(power.Reset)
	firstBoot(off, BootDisk)
	act(power.PowerOff)
	state(power.Off, "prelaunch")
	act(power.PowerOff) // idempotent
	state(power.Off, "prelaunch")

	// CycleToPXE from off: PXE once, then power on.
	off = SerialSize(vm.Spec.Serial())
	if err := power.CycleToPXE(ctx, d, true, power.RetryOptions{Attempts: 1}); err != nil {
		t.Fatal(err)
	}
	state(power.On, "running")
	firstBoot(off, BootNetwork)
	act(power.PowerOff)
	state(power.Off, "prelaunch")
}
