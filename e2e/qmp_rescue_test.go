package e2e

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// rescueBudget: PXE, the kernel with three initrds (~45 MiB over HTTP),
// network bring-up and sshd under TCG.
const rescueBudget = 6 * time.Minute

// ovhRescueServer is the part of GET /1.0/dedicated/server/NAME the rescue
// flow reads.
type ovhRescueServer struct {
	PowerState string `json:"powerState"`
	BootID     *int64 `json:"bootId"`
	Rescue     *struct {
		Addresses      []string `json:"addresses"`
		HostKeys       []string `json:"hostKeys"`
		HostPublicKeys []string `json:"hostPublicKeys"`
	} `json:"rescue"`
}

// TestQMPRescue drives one VM through its QMP socket with nobody touching
// it: a reinstall through the OVH API powers it on with a one-time network
// boot, installs the small UEFI image, and the VM reboots by itself into
// the installed system (the probe), which powers off. OVH's DELETE
// bringYourOwnImage then reboots it into the rescue system; the test logs
// in with OpenSSH's ssh and the key of the install, checking the host
// strictly against the keys byoi reports in the OVH machine object and
// `byoi machines show`, and lsblk/blkid show the installed disk's
// partitions. `byoi boot NAME disk` brings the installed system back.
func TestQMPRescue(t *testing.T) {
	fix := harness.Fixtures(t)
	l := harness.NewLab(t, LabOptions{})
	const name, mac = "e2e-qmp", "52:54:00:b0:08:01"
	vm := l.startQMPVM("qmp-rescue", mac, vmDisk(t, diskSize), 1024)
	l.register(&machine{name: name, mac: mac})
	set := l.mustByoi("power", name, "set", "--driver", "qmp", "--address", vm.QMP)
	if want := name + ": qmp at " + vm.QMP + " (password none)\nThe BMC answers: power off.\n"; set != want {
		t.Fatalf("byoi power set printed %q, want %q", set, want)
	}
	keyDir := t.TempDir()
	key, pub := sshKeygen(t, keyDir, "install")

	oc := l.ovhClient()
	meta := map[string]string{"role": "e2e-qmp"}
	body := map[string]any{
		"operatingSystem": "byoi_64",
		"customizations": map[string]any{
			"hostname":            "e2e-qmp-host",
			"imageURL":            l.Images + "/" + filepath.Base(fix.UEFIRaw),
			"imageType":           "raw",
			"imageCheckSum":       fileDigest(t, fix.UEFIRaw, "sha256"),
			"imageCheckSumType":   "sha256",
			"httpHeaders":         map[string]string{"Authorization": imageAuth},
			"efiBootloaderPath":   EFILoaderPath,
			"sshKey":              pub,
			"configDriveUserData": base64.StdEncoding.EncodeToString([]byte("#cloud-config\n# " + userDataMarker + "\n")),
			"configDriveMetadata": meta,
		},
	}
	serial := newSerialFile(t, "qmp-rescue", vm.Spec.Serial())
	var task ovhTask
	if err := oc.Post("/dedicated/server/"+name+"/reinstall", body, &task); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	serial.Wait("byoi: installing", pxeBudget)
	harness.Timing("qmp-rescue", "pxe→script", serial.Since())
	if got := l.waitTask(task.TaskID, installBudget); got.Status != boot.StatusDone {
		t.Fatalf("task %d ended %s: %s\nsteps: %+v", task.TaskID, got.Status, got.Message, got.Steps)
	}
	harness.Timing("qmp-rescue", "image written", serial.Since())
	// The VM reboots by itself: its own order (disk first) finds no
	// removable-path loader, the network gets the local boot script.
	serial.Wait("byoi: local boot", pxeBudget)
	serial.Wait("BYOI-PROBE-BOOTED", localBudget)
	harness.Timing("qmp-rescue", "installed OS up", serial.Since())
	assertProbe(t, serial, "e2e-qmp-host", meta)
	waitPower(t, l, name, "off", time.Minute) // the probe powered the VM off

	// OVH's DELETE bringYourOwnImage: rescue, and a network boot through QMP.
	serial.Restart()
	if err := oc.Delete("/dedicated/server/"+name+"/bringYourOwnImage", nil); err != nil {
		t.Fatalf("DELETE bringYourOwnImage: %v", err)
	}
	serial.Wait("byoi: rescue system for "+name, pxeBudget)
	harness.Timing("qmp-rescue", "pxe→rescue script", serial.Since())
	line := serial.Wait("rescue: ssh root@", rescueBudget)
	harness.Timing("qmp-rescue", "rescue sshd up", serial.Since())
	m := announceRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("console line %q, want rescue: ssh root@ADDR (host key SHA256:…)", line)
	}
	addr := m[1]
	var srv ovhRescueServer
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		if err := oc.Get("/dedicated/server/"+name, &srv); err != nil {
			t.Fatal(err)
		}
		if srv.Rescue != nil || time.Now().After(deadline) {
			break
		}
	}
	if srv.Rescue == nil || len(srv.Rescue.Addresses) == 0 || srv.Rescue.Addresses[0] != addr || srv.BootID == nil || *srv.BootID != 2 || srv.PowerState != "poweron" {
		t.Fatalf("OVH machine in rescue = %+v, want bootId 2, poweron, rescue at %s", srv, addr)
	}
	if !strings.HasSuffix(srv.Rescue.HostKeys[0], " "+m[2]) {
		t.Errorf("reported host keys %v, want the console's %s first", srv.Rescue.HostKeys, m[2])
	}
	known := knownHosts(t, keyDir, addr, srv.Rescue.HostKeys, srv.Rescue.HostPublicKeys)
	show := l.mustByoi("machines", "show", name)
	wantShow := []string{"Boot:", "rescue\n", "Rescue: ssh root@" + addr + " (ready "}
	for i, fp := range srv.Rescue.HostKeys {
		wantShow = append(wantShow, "  host key "+fp+"\n", "  known_hosts: "+addr+" "+srv.Rescue.HostPublicKeys[i]+"\n")
	}
	for _, w := range wantShow {
		if !strings.Contains(show, w) {
			t.Errorf("machines show lacks %q:\n%s", w, show)
		}
	}

	out, err := l.ssh(key, known, addr, "lsblk -n -l -o NAME,TYPE,SIZE; blkid")
	if err != nil {
		t.Fatalf("ssh lsblk: %v\n%s", err, out)
	}
	harness.Timing("qmp-rescue", "ssh lsblk", serial.Since())
	t.Logf("lsblk and blkid over ssh:\n%s", out)
	for _, want := range []string{"vda disk 256M", "vda1 part 40M", "vda2 part"} {
		if !containsLine(out, want) {
			t.Errorf("lsblk over ssh lacks %q:\n%s", want, out)
		}
	}
	// blkid: the image's ESP and the config drive the installer added.
	for dev, want := range map[string][]string{"/dev/vda1:": {`LABEL="ESP"`, `TYPE="vfat"`}, "/dev/vda2:": {`LABEL="config-2"`}} {
		found := false
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, dev) {
				found = true
				for _, w := range want {
					if !strings.Contains(l, w) {
						t.Errorf("blkid %s lacks %s", l, w)
					}
				}
			}
		}
		if !found {
			t.Errorf("blkid over ssh does not show %s:\n%s", dev, out)
		}
	}

	// Back to the installed system.
	serial.Restart()
	back := l.mustByoi("boot", name, "disk")
	if want := fmt.Sprintf("%s boots its disk next.\nNetwork boot and power-cycle sent to its BMC (qmp at %s)", name, vm.QMP); !strings.HasPrefix(back, want) {
		t.Errorf("byoi boot disk printed %q, want %q…", back, want)
	}
	serial.Wait("byoi: local boot", pxeBudget)
	serial.Wait("BYOI-PROBE-BOOTED", localBudget)
	harness.Timing("qmp-rescue", "disk again: OS up", serial.Since())
	assertProbe(t, serial, "e2e-qmp-host", meta)
	_, status := l.powerStatus(name)
	if !strings.Contains(status, "last action: network boot and power-cycle (boot disk), done at ") {
		t.Errorf("byoi power status after boot disk:\n%s", status)
	}
	l.checkTimeline(name, boot.EventPower, boot.EventRescue, boot.EventBootMode, boot.EventBootDecision)
}

// waitPower waits until `byoi power NAME status` reports want.
func waitPower(t *testing.T, l *Lab, name, want string, timeout time.Duration) {
	t.Helper()
	var got, out string
	for deadline := time.Now().Add(timeout); ; time.Sleep(time.Second) {
		got, out = l.powerStatus(name)
		if got == want || time.Now().After(deadline) {
			break
		}
	}
	if got != want {
		t.Fatalf("byoi power status = %q, want %s:\n%s", got, want, out)
	}
}
