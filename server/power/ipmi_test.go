package power_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/bmc"
	"github.com/byoi/byoi/e2e/netns"
	"github.com/byoi/byoi/server/power"
)

const secret = "s3cret-pw"

func ipmiDriver(t *testing.T, addr, user, password string, timeout time.Duration) power.Driver {
	t.Helper()
	d, err := power.New(power.Config{Driver: "ipmi", Address: addr, Username: user, Password: password},
		power.Options{Machine: "rack1-07", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkErr checks an error's sentinel, its wording and that it never holds
// the password.
func checkErr(t *testing.T, err, want error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %v", want)
	}
	t.Logf("error: %v", err)
	if want != nil && !errors.Is(err, want) {
		t.Errorf("err = %v, want it to wrap %v", err, want)
	}
	var pe *power.Error
	if !errors.As(err, &pe) {
		t.Errorf("err is %T, want a *power.Error", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("err = %q, want it to contain %q", err, p)
		}
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("err = %q holds the password", err)
	}
}

// TestIPMINoAnswer: a UDP socket that reads and never answers.
func TestIPMINoAnswer(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	d := ipmiDriver(t, pc.LocalAddr().String(), "admin", secret, 600*time.Millisecond)
	start := time.Now()
	err = d.Power(context.Background(), power.Cycle)
	checkErr(t, err, power.ErrUnreachable, "could not power-cycle rack1-07 via IPMI at "+pc.LocalAddr().String())
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("Power(cycle) took %v, want it bounded by the timeout", el)
	}
}

// TestIPMIPortClosed: nothing listens, the kernel answers port unreachable.
func TestIPMIPortClosed(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	d := ipmiDriver(t, addr, "admin", secret, 600*time.Millisecond)
	_, err = d.State(context.Background())
	checkErr(t, err, power.ErrUnreachable, "could not read the power state of rack1-07 via IPMI at "+addr)
}

// TestIPMISimRefusals runs OpenIPMI's ipmi_sim on loopback as the BMC: it
// refuses wrong credentials, and without a chassis_control program it
// refuses a boot device (completion code 0xcc), which ipmitool reports on
// stderr with exit status 0.
func TestIPMISimRefusals(t *testing.T) {
	netns.RequireCommand(t, "ipmi_sim")
	netns.RequireCommand(t, "ipmitool")
	sim, err := bmc.StartIPMISim(bmc.IPMISimConfig{Dir: t.TempDir(), Password: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	ctx := context.Background()

	good := ipmiDriver(t, sim.Address(), sim.User(), secret, 2*time.Second)
	st, err := good.State(ctx)
	if err != nil || st != power.Off {
		t.Fatalf("State() = %v, %v; want off, nil", st, err)
	}
	err = good.Power(ctx, power.Reset)
	checkErr(t, err, power.ErrPoweredOff, "could not reset rack1-07", "power it on or cycle it")
	err = good.PXEOnce(ctx, true)
	checkErr(t, err, power.ErrRefused, "could not set one-time PXE boot for rack1-07 via IPMI at "+sim.Address(),
		"completion code 0xcc", "Invalid data field in request")
	if _, err := sim.Ipmitool(ctx, "chassis", "bootdev", "pxe"); err == nil || !strings.Contains(err.Error(), "Invalid data field") {
		t.Errorf("ipmitool chassis bootdev pxe = %v, want the same refusal", err)
	}

	wrongPW := ipmiDriver(t, sim.Address(), sim.User(), "not-the-"+secret, 2*time.Second)
	_, err = wrongPW.State(ctx)
	checkErr(t, err, power.ErrAuth, "wrong username or password")
	if strings.Contains(err.Error(), "not-the-") {
		t.Errorf("err = %q holds the wrong password", err)
	}
	// CycleToPXE does not retry bad credentials.
	n := 0
	err = power.CycleToPXE(ctx, wrongPW, true, power.RetryOptions{Backoff: time.Millisecond, OnAttempt: func(int, error) { n++ }})
	if !errors.Is(err, power.ErrAuth) || n != 1 {
		t.Errorf("CycleToPXE with a wrong password = %v after %d attempts, want ErrAuth after 1", err, n)
	}

	wrongUser := ipmiDriver(t, sim.Address(), "nobody", secret, 2*time.Second)
	_, err = wrongUser.State(ctx)
	checkErr(t, err, power.ErrAuth)
}

// TestIPMISimIgnoresBootDevice: a BMC that answers "done" to the boot
// device but keeps none is caught by the read-back.
func TestIPMISimIgnoresBootDevice(t *testing.T) {
	netns.RequireCommand(t, "ipmi_sim")
	netns.RequireCommand(t, "ipmitool")
	dir := t.TempDir()
	script := filepath.Join(dir, "forgetful.sh")
	prog := "#!/bin/sh\n# accepts every request, forgets the boot device\n" +
		"[ \"$1\" = get ] && for p; do case $p in power) echo power:0;; boot) echo boot:default;; esac; done\nexit 0\n"
	if err := os.WriteFile(script, []byte(prog), 0o755); err != nil {
		t.Fatal(err)
	}
	sim, err := bmc.StartIPMISim(bmc.IPMISimConfig{Dir: dir, Password: secret, ChassisControl: script})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	d := ipmiDriver(t, sim.Address(), sim.User(), secret, 2*time.Second)
	err = d.PXEOnce(context.Background(), false)
	checkErr(t, err, power.ErrRefused, "could not set one-time PXE boot for rack1-07", "the BMC accepted PXE as boot device but reports")
}
