package bmc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/netns"
	"github.com/byoi/byoi/server/power"
)

// TestIPMIDriverVM drives a QEMU VM through ipmi_sim with byoi's IPMI driver
// and checks every state against ipmitool's view and the VM's serial log.
func TestIPMIDriverVM(t *testing.T) {
	need(t, "qemu-system-x86_64", "ipmi_sim", "ipmitool")
	code, vars := ovmf(t)
	lockVMs(t)
	ns, err := netns.New("byoi-ipmi")
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := ns.IP("addr", "add", "198.51.100.20/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := &VMSpec{Dir: dir + "/vm", OVMFCode: code, OVMFVars: vars}
	sim, err := StartIPMISim(IPMISimConfig{Dir: dir, Netns: ns.Name(), Addr: "198.51.100.20", Password: "s3cret-pw", VM: spec})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	t.Cleanup(func() { logFiles(t, dir, "chassis.log", "boots.log", "qemu.log", "ipmi_sim.log") })
	d, err := power.New(power.Config{Driver: "ipmi", Address: sim.Address(), Username: sim.User(), Password: sim.Password()},
		power.Options{Machine: "vm-ipmi"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inNS := func(fn func() error) error { return ns.Run(fn) }

	// state checks that byoi's driver and ipmitool agree with want, within
	// 15 s: a BMC carries out a power cycle after it answered (ipmi_sim
	// powers on again about a second after the off).
	state := func(want power.State) {
		t.Helper()
		var got, tool power.State
		var out string
		for deadline := time.Now().Add(15 * time.Second); ; {
			if err := inNS(func() (err error) { got, err = d.State(ctx); return err }); err != nil {
				t.Fatal(err)
			}
			var err error
			out, err = sim.Ipmitool(ctx, "chassis", "power", "status")
			if err != nil {
				t.Fatal(err)
			}
			tool = power.Off
			if strings.Contains(out, "Chassis Power is on") {
				tool = power.On
			}
			if (got == want && tool == want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if got != want || tool != want {
			t.Fatalf("State() = %s, ipmitool says %q, want %s", got, strings.TrimSpace(out), want)
		}
	}
	act := func(a power.Action) {
		t.Helper()
		if err := inNS(func() error { return d.Power(ctx, a) }); err != nil {
			t.Fatalf("Power(%s) = %v", a, err)
		}
	}
	firstBoot := func(off int64, want Boot) {
		t.Helper()
		got, line, err := FirstBoot(spec.Serial(), off, 90*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("first boot = %s (%q), want %s", got, line, want)
		}
	}

	state(power.Off)
	off := SerialSize(spec.Serial())
	act(power.PowerOn)
	state(power.On)
	firstBoot(off, BootDisk)

	// One-time PXE: ipmitool sees the pending boot device, the VM boots
	// from the network once, and the next reset boots the disk again.
	if err := inNS(func() error { return d.PXEOnce(ctx, true) }); err != nil {
		t.Fatal(err)
	}
	if out, err := sim.Ipmitool(ctx, "chassis", "bootparam", "get", "5"); err != nil || !strings.Contains(out, "Force PXE") {
		t.Fatalf("ipmitool chassis bootparam get 5 = %q, %v; want Force PXE", out, err)
	}
	off = SerialSize(spec.Serial())
	act(power.Cycle)
	state(power.On)
	firstBoot(off, BootNetwork)
	off = SerialSize(spec.Serial())
	act(power.Reset)
	firstBoot(off, BootDisk)

	act(power.PowerOff)
	state(power.Off)
	// Cycle of a machine that is off powers it on; CycleToPXE does both.
	off = SerialSize(spec.Serial())
	if err := inNS(func() error { return power.CycleToPXE(ctx, d, true, power.RetryOptions{Attempts: 1}) }); err != nil {
		t.Fatal(err)
	}
	state(power.On)
	firstBoot(off, BootNetwork)
	act(power.PowerOff)
	state(power.Off)
	if got, want := strings.Join(sim.Boots(), " "), "disk network disk network"; got != want {
		t.Errorf("VM starts = %q, want %q", got, want)
	}
}
