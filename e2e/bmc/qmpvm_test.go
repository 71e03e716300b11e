package bmc

import (
	"context"
	"testing"
	"time"

	"github.com/byoi/byoi/server/power"
)

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
	d, err := power.New(power.Config{Driver: "qmp", Address: vm.QMP}, power.Options{Machine: "vm1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.State(ctx)
	t.Logf("state %v %v", st, err)
	off := SerialSize(vm.Spec.Serial())
	if err := d.Power(ctx, power.PowerOn); err != nil {
		t.Fatal(err)
	}
	b, line, err := FirstBoot(vm.Spec.Serial(), off, 60*time.Second)
	t.Logf("first boot %v %q %v", b, line, err)
	if err := d.PXEOnce(ctx, true); err != nil {
		t.Fatal(err)
	}
	off = SerialSize(vm.Spec.Serial())
	if err := d.Power(ctx, power.Cycle); err != nil {
		t.Fatal(err)
	}
	b, line, err = FirstBoot(vm.Spec.Serial(), off, 60*time.Second)
	t.Logf("first boot %v %q %v", b, line, err)
	off = SerialSize(vm.Spec.Serial())
	if err := d.Power(ctx, power.Reset); err != nil {
		t.Fatal(err)
	}
	b, line, err = FirstBoot(vm.Spec.Serial(), off, 60*time.Second)
	t.Logf("first boot %v %q %v", b, line, err)
}
