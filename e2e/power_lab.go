package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/e2e/bmc"
)

// The power flows: machines nobody touches, whose BMC byoi drives. The VMs
// are e2e/bmc's: started by ipmi_sim's chassis_control script, or a QEMU
// process controlled through its QMP socket. Their serial logs and the
// BMC's files are kept under the run's artifacts.

const (
	// bmcIP is the simulated BMC's address, on the lab namespace's lo.
	bmcIP = "198.51.100.20"
	// bmcPassword is the ipmi_sim account's password; it must appear in
	// no output of byoi.
	bmcPassword = "e2e-BMC-pw-41d7"
)

// byoi runs the real CLI inside the lab against its server.
func (l *Lab) byoi(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append(args, "--server", l.Base, "--token", l.token)
	out, err := l.NS.Command(ctx, l.h.Byoi, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("byoi %s: %w\n%s", strings.Join(args[:len(args)-4], " "), err, out)
	}
	return string(out), nil
}

// mustByoi is byoi that fails the test on error.
func (l *Lab) mustByoi(args ...string) string {
	l.t.Helper()
	out, err := l.byoi(args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return out
}

// powerStatus is the state `byoi power NAME status` reports ("on", "off",
// or the whole first line when it is neither).
func (l *Lab) powerStatus(name string) (string, string) {
	l.t.Helper()
	out := l.mustByoi("power", name, "status")
	first, _, _ := strings.Cut(out, "\n")
	return strings.TrimPrefix(first, name+": power "), out
}

// vmDisk is a disk of size bytes filled with garbage, outside the artifacts.
func vmDisk(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	if err := garbageDisk(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// startIPMIBMC starts ipmi_sim on bmcIP:623 in the lab's namespace, in front
// of a powered-off UEFI VM on the lab's tap (started by its chassis_control
// script when byoi powers it on).
func (l *Lab) startIPMIBMC(name, mac, disk string, memoryMB int) (*bmc.IPMISim, *bmc.VMSpec) {
	l.t.Helper()
	if err := l.NS.IP("addr", "add", bmcIP+"/32", "dev", "lo"); err != nil {
		l.t.Fatalf("BMC address: %v", err)
	}
	dir := filepath.Join(l.h.Artifacts, name)
	spec := &bmc.VMSpec{Dir: filepath.Join(dir, "vm"), OVMFCode: l.h.OVMFCode, OVMFVars: l.h.OVMFVars,
		Netns: l.NS.Name(), Tap: l.Tap, MAC: mac, MemoryMB: memoryMB, Disk: disk}
	sim, err := bmc.StartIPMISim(bmc.IPMISimConfig{Dir: filepath.Join(dir, "bmc"), Netns: l.NS.Name(), Addr: bmcIP,
		Password: bmcPassword, VM: spec})
	if err != nil {
		l.t.Fatalf("ipmi_sim: %v", err)
	}
	l.t.Cleanup(sim.Close)
	l.t.Logf("BMC %s: ipmi_sim at %s, files in %s, serial log %s", name, sim.Address(), dir, spec.Serial())
	return sim, spec
}

// ipmiStateAgrees waits until `byoi power NAME status` and ipmitool against
// the same simulator both report want ("on" or "off").
func (l *Lab) ipmiStateAgrees(sim *bmc.IPMISim, name, want string, timeout time.Duration) {
	l.t.Helper()
	var byoi, tool, out string
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Second) {
		byoi, out = l.powerStatus(name)
		s, err := sim.Ipmitool(context.Background(), "chassis", "power", "status")
		if err != nil {
			l.t.Fatal(err)
		}
		tool = strings.TrimSpace(s)
		if (byoi == want && tool == "Chassis Power is "+want) || time.Now().After(deadline) {
			break
		}
	}
	if byoi != want || tool != "Chassis Power is "+want {
		l.t.Fatalf("power of %s: byoi says %q, ipmitool says %q; want both %s\n%s", name, byoi, tool, want, out)
	}
}

// startQMPVM starts a powered-off UEFI VM on the lab's tap, controlled
// through its QMP socket.
func (l *Lab) startQMPVM(name, mac, disk string, memoryMB int) *bmc.QMPVM {
	l.t.Helper()
	vm, err := bmc.StartQMPVM(bmc.VMSpec{Dir: filepath.Join(l.h.Artifacts, name), OVMFCode: l.h.OVMFCode, OVMFVars: l.h.OVMFVars,
		Netns: l.NS.Name(), Tap: l.Tap, MAC: mac, MemoryMB: memoryMB, Disk: disk})
	if err != nil {
		l.t.Fatalf("QMP VM: %v", err)
	}
	l.t.Cleanup(vm.Close)
	l.t.Logf("VM %s: QMP %s, serial log %s", name, vm.QMP, vm.Spec.Serial())
	return vm
}

// sshKeygen makes an Ed25519 key pair in dir; it returns the private key's
// file and the public key.
func sshKeygen(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if _, err := run(context.Background(), "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@e2e", "-f", p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return p, strings.TrimSpace(string(b))
}

// knownHosts checks that the reported fingerprints are those of the
// reported public keys (as ssh-keygen -l computes them) and writes a
// known_hosts file for addr from the keys.
func knownHosts(t *testing.T, dir, addr string, fingerprints, keys []string) string {
	t.Helper()
	if len(keys) == 0 || len(fingerprints) != len(keys) {
		t.Fatalf("host keys %v and public keys %v: want one fingerprint per key", fingerprints, keys)
	}
	var known strings.Builder
	for i, pub := range keys {
		f := filepath.Join(dir, fmt.Sprintf("hostkey%d.pub", i))
		if err := os.WriteFile(f, []byte(pub+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(context.Background(), "ssh-keygen", "-l", "-E", "sha256", "-f", f)
		if err != nil {
			t.Fatal(err)
		}
		// "256 SHA256:… no comment (ED25519)" → "ED25519 SHA256:…"
		fields := strings.Fields(out)
		if want := strings.Trim(fields[len(fields)-1], "()") + " " + fields[1]; fingerprints[i] != want {
			t.Errorf("reported host key %d = %q, ssh-keygen -l of its public key says %q", i, fingerprints[i], want)
		}
		known.WriteString(addr + " " + pub + "\n")
	}
	p := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(p, []byte(known.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ssh runs command as root@addr from inside the lab with key, checking
// the host strictly against known.
func (l *Lab) ssh(key, known, addr, command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := l.NS.Command(ctx, "ssh", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+known, "-o", "LogLevel=ERROR",
		"root@"+addr, command).CombinedOutput()
	return string(out), err
}
