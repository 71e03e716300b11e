package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
)

// TestIPMIDebian is the real distribution run, with nobody touching the VM:
// its BMC is OpenIPMI's ipmi_sim (QEMU's external BMC device, IPMI over LAN
// at 198.51.100.20 in the lab), set with `byoi power NAME set`. The
// reinstall through the OVH API makes byoi power the VM on with a one-time
// network boot; OVMF PXE → installer writes Debian's qcow2 → the VM reboots
// by itself → iPXE sanboot of the loader → shim → GRUB → Debian →
// cloud-init applies the hostname, the user with the SSH key and the
// runcmd marker, then powers the VM off. ipmitool against the same
// simulator sees the power state byoi reports, on and then off.
func TestIPMIDebian(t *testing.T) {
	// No efiBootloaderPath: the installer's pre-flight picks shim from the
	// image's ESP and the server records it on the machine (issue 16).
	ipmiDebianFlow(t, "")
}

// ipmiDebianFlow deploys the Debian image with the given efiBootloaderPath
// ("" leaves it out) on a machine byoi powers through IPMI.
func ipmiDebianFlow(t *testing.T, loader string) {
	img := debianImage(t)
	fix := harness.Fixtures(t)
	// The image server serves the fixtures directory.
	served := filepath.Join(fix.Dir, "debian-genericcloud.qcow2")
	if _, err := os.Lstat(served); err != nil {
		if err := os.Symlink(img.Path, served); err != nil {
			t.Fatal(err)
		}
	}
	l := harness.NewLab(t, LabOptions{})
	const name, mac = "e2e-ipmi", "52:54:00:b0:07:01"
	sim, spec := l.startIPMIBMC("ipmi-debian", mac, vmDisk(t, img.VirtualSize+256<<20), 1024)
	l.register(&machine{name: name, mac: mac})

	pw := filepath.Join(t.TempDir(), "bmc.pw")
	if err := os.WriteFile(pw, []byte(bmcPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set := l.mustByoi("power", name, "set", "--driver", "ipmi", "--address", bmcIP, "--username", sim.User(), "--password-file", pw)
	if want := name + ": ipmi at " + bmcIP + " (password stored sealed)\nThe BMC answers: power off.\n"; set != want {
		t.Fatalf("byoi power set printed %q, want %q", set, want)
	}
	l.ipmiStateAgrees(sim, name, "off", 10*time.Second)

	oc := l.ovhClient()
	body := map[string]any{
		"operatingSystem": "byoi_64",
		"customizations": map[string]any{
			"hostname":            "e2e-debian-host",
			"imageURL":            l.Images + "/" + filepath.Base(served),
			"imageType":           "qcow2",
			"imageCheckSum":       fileDigest(t, img.Path, "sha512"),
			"imageCheckSumType":   "sha512",
			"httpHeaders":         map[string]string{"Authorization": imageAuth},
			"sshKey":              distroSSHKey,
			"configDriveUserData": cloudConfig,
			"configDriveMetadata": map[string]string{"role": "e2e-debian"},
		},
	}
	if loader != "" {
		body["customizations"].(map[string]any)["efiBootloaderPath"] = loader
	}
	serial := newSerialFile(t, "ipmi-debian", spec.Serial())
	var task ovhTask
	if err := oc.Post("/dedicated/server/"+name+"/reinstall", body, &task); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	wait := l.startWaitCLI(name)

	// Nobody touches the VM: byoi powers it on through the BMC.
	serial.Wait("byoi: installing", pxeBudget)
	harness.Timing("ipmi-debian", "pxe→script", serial.Since())
	// The machine's recent events (20) still hold the power action.
	show := l.mustByoi("machines", "show", name)
	if want := fmt.Sprintf("power: network boot and power-cycle (reinstall, task %d): done via IPMI at %s", task.TaskID, bmcIP); !strings.Contains(show, want) {
		t.Errorf("machines show lacks the event %q:\n%s", want, show)
	}
	serial.Wait(`msg="task received"`, 2*time.Minute)
	harness.Timing("ipmi-debian", "installer up", serial.Since())
	if got := l.waitTask(task.TaskID, installBudget); got.Status != boot.StatusDone {
		t.Fatalf("task %d ended %s: %s\nsteps: %+v", task.TaskID, got.Status, got.Message, got.Steps)
	}
	harness.Timing("ipmi-debian", "image written", serial.Since())
	wait.check(t)
	sent := fmt.Sprintf("power: network boot and power-cycle (reinstall, task %d) sent via ipmi at %s at ", task.TaskID, bmcIP)
	if out := wait.out.String(); !strings.Contains(out, sent) || !strings.Contains(out, "to network-boot\n") {
		t.Errorf("byoi wait did not show the power cycle it sent (%q):\n%s", sent, out)
	}
	var st installStatus
	if err := oc.Get("/dedicated/server/"+name+"/install/status", &st); err != nil || len(st.Progress) == 0 {
		t.Fatalf("install/status: %+v, %v", st, err)
	}
	for _, p := range st.Progress {
		if p.Status != "done" {
			t.Errorf("install/status step %q = %s (%s), want done", p.Comment, p.Status, p.Error)
		}
	}
	if loader == "" { // pre-flight's pick, recorded on the machine
		var srv struct {
			EFIBootloaderPath *string `json:"efiBootloaderPath"`
		}
		if err := oc.Get("/dedicated/server/"+name, &srv); err != nil || srv.EFIBootloaderPath == nil || *srv.EFIBootloaderPath != img.Loader {
			t.Errorf("machine's efiBootloaderPath after an install without one = %v, %v; want %s picked", srv.EFIBootloaderPath, err, img.Loader)
		}
	}

	// The installer rebooted the VM (QEMU resets in place); it network-boots
	// again and gets the local boot script.
	serial.Wait("byoi: local boot", pxeBudget)
	harness.Timing("ipmi-debian", "pxe→local script", serial.Since())
	serial.Wait("Linux version", localBudget)
	harness.Timing("ipmi-debian", "kernel started", serial.Since())
	line := serial.Wait("BYOI-E2E-RUNCMD", distroBootBudget)
	harness.Timing("ipmi-debian", "cloud-init runcmd", serial.Since())
	// net=ds: cloud-init configured the network from the config drive's
	// network_data.json (not its fallback), on the NIC with the boot MAC.
	for _, want := range []string{"host=e2e-debian-host ", "user=e2euser:/home/e2euser ", "key=" + distroSSHKey + " ", "ssh=active ", "net=ds ", "mac=" + mac + " end"} {
		if !strings.Contains(line, want) {
			t.Errorf("runcmd line %q lacks %q", line, want)
		}
	}
	l.ipmiStateAgrees(sim, name, "on", 10*time.Second)
	var srv struct {
		PowerState string `json:"powerState"`
	}
	if err := oc.Get("/dedicated/server/"+name, &srv); err != nil || srv.PowerState != "poweron" {
		t.Errorf("OVH powerState while Debian runs = %q (%v), want poweron", srv.PowerState, err)
	}
	// cloud-init powers the VM off: QEMU exits, the BMC reports off.
	l.ipmiStateAgrees(sim, name, "off", 3*time.Minute)
	harness.Timing("ipmi-debian", "powered off", serial.Since())

	if got := strings.Join(sim.Boots(), " "); got != "network" {
		t.Errorf("VM starts by the BMC = %q, want one, network first", got)
	}
	_, status := l.powerStatus(name)
	if want := fmt.Sprintf("last action: network boot and power-cycle (reinstall, task %d), done at ", task.TaskID); !strings.Contains(status, want) {
		t.Errorf("byoi power status:\n%s\nwant %q", status, want)
	}
	for what, out := range map[string]string{"power status": status, "machines show": show, "wait": wait.out.String(), "server log": l.ServerLog()} {
		if strings.Contains(out, bmcPassword) {
			t.Errorf("%s shows the BMC password", what)
		}
	}
	l.checkTimeline(name, boot.EventDHCP, boot.EventBootDecision, boot.EventStep, boot.EventTaskDone)
	if out, err := sim.Ipmitool(context.Background(), "chassis", "bootparam", "get", "5"); err == nil && strings.Contains(out, "Force PXE") {
		t.Errorf("the one-time PXE boot is still pending after the flow:\n%s", out)
	}
}
