package bmc

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/server/power"
)

// TestRedfishDriverVM drives a QEMU VM through the Redfish service with
// byoi's Redfish driver, and checks the same service with redfishtool.
func TestRedfishDriverVM(t *testing.T) {
	need(t, "qemu-system-x86_64", "redfishtool")
	code, vars := ovmf(t)
	lockVMs(t)
	vm, err := StartQMPVM(VMSpec{Dir: t.TempDir(), OVMFCode: code, OVMFVars: vars})
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	backend, err := power.New(power.Config{Driver: "qmp", Address: vm.QMP}, power.Options{Machine: "vm-redfish"})
	if err != nil {
		t.Fatal(err)
	}
	svc := &RedfishService{Backend: backend, User: "root", Password: "calvin-pw", UEFI: true}
	srv := httptest.NewTLSServer(svc)
	defer srv.Close()
	hostport := strings.TrimPrefix(srv.URL, "https://")
	d, err := power.New(power.Config{Driver: "redfish", Address: srv.URL, Username: "root", Password: "calvin-pw", InsecureTLS: true},
		power.Options{Machine: "vm-redfish"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rft := func(args ...string) map[string]any {
		t.Helper()
		v, err := RedfishtoolJSON(ctx, hostport, "root", "calvin-pw", args...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	state := func(want power.State) {
		t.Helper()
		got, err := d.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sys := rft("Systems", "-I", "vm0", "get")
		tool := sys["PowerState"]
		wantTool := map[power.State]string{power.On: "On", power.Off: "Off"}[want]
		if got != want || tool != wantTool {
			t.Fatalf("State() = %s, redfishtool PowerState = %v, want %s", got, tool, want)
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
	act := func(a power.Action) {
		t.Helper()
		if err := d.Power(ctx, a); err != nil {
			t.Fatalf("Power(%s) = %v", a, err)
		}
	}

	root := rft("root")
	if root["RedfishVersion"] == nil || root["Systems"] == nil {
		t.Fatalf("redfishtool root = %v, want RedfishVersion and Systems", root)
	}
	if coll := rft("Systems"); coll["Members@odata.count"] != float64(1) {
		t.Fatalf("redfishtool Systems = %v, want one member", coll)
	}
	state(power.Off)
	off := SerialSize(vm.Spec.Serial())
	act(power.PowerOn)
	state(power.On)
	firstBoot(off, BootDisk)

	// byoi's driver: one-time PXE seen by redfishtool, then a power cycle.
	if err := d.PXEOnce(ctx, true); err != nil {
		t.Fatal(err)
	}
	boot := rft("Systems", "-I", "vm0", "get")["Boot"].(map[string]any)
	if boot["BootSourceOverrideTarget"] != "Pxe" || boot["BootSourceOverrideEnabled"] != "Once" || boot["BootSourceOverrideMode"] != "UEFI" {
		t.Fatalf("Boot after PXEOnce = %v, want Pxe, Once, UEFI", boot)
	}
	off = SerialSize(vm.Spec.Serial())
	act(power.Cycle)
	firstBoot(off, BootNetwork)
	boot = rft("Systems", "-I", "vm0", "get")["Boot"].(map[string]any)
	if boot["BootSourceOverrideEnabled"] != "Disabled" {
		t.Fatalf("Boot after the PXE boot = %v, want the override consumed (Disabled)", boot)
	}
	off = SerialSize(vm.Spec.Serial())
	act(power.Reset)
	firstBoot(off, BootDisk)
	act(power.PowerOff)
	state(power.Off)

	// redfishtool: its own one-time boot override and reset; byoi's driver
	// sees the result.
	if _, err := Redfishtool(ctx, hostport, "root", "calvin-pw", "Systems", "-I", "vm0", "setBootOverride", "Once", "Pxe"); err != nil {
		t.Fatal(err)
	}
	off = SerialSize(vm.Spec.Serial())
	if _, err := Redfishtool(ctx, hostport, "root", "calvin-pw", "Systems", "-I", "vm0", "reset", "On"); err != nil {
		t.Fatal(err)
	}
	state(power.On)
	firstBoot(off, BootNetwork)
	if _, err := Redfishtool(ctx, hostport, "root", "calvin-pw", "Systems", "-I", "vm0", "reset", "ForceOff"); err != nil {
		t.Fatal(err)
	}
	state(power.Off)
	// A session login and logout through redfishtool.
	if _, err := Redfishtool(ctx, hostport, "root", "calvin-pw", "-A", "Session", "Systems", "-I", "vm0", "get"); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(svc.Resets(), " "), "On PowerCycle ForceRestart ForceOff On ForceOff"; got != want {
		t.Errorf("service resets = %q, want %q", got, want)
	}
}
