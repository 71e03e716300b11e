package e2e

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/ovh/go-ovh/ovh"
)

const (
	diskSize       = 256 << 20
	userDataMarker = "BYOI-E2E-USERDATA-MARKER"
	// Budgets under TCG on 2 cores (E2E-NOTES: 17-36 s per PXE boot).
	pxeBudget     = 3 * time.Minute
	installBudget = 5 * time.Minute
	localBudget   = 3 * time.Minute
)

// machine is one VM identity in a flow.
type machine struct {
	name, mac string
	disk      string
	vars      string
	fw        Firmware
	memoryMB  int      // 0: the VM default
	runs      int      // VM runs so far, to keep every serial log
	extra     []string // more disks (BYOLinux RAID)
}

func newMachine(t *testing.T, name, mac string, fw Firmware) *machine {
	return newSizedMachine(t, name, mac, fw, diskSize, 0)
}

// newSizedMachine is newMachine with a disk of size bytes and memoryMB of RAM.
func newSizedMachine(t *testing.T, name, mac string, fw Firmware, size int64, memoryMB int) *machine {
	t.Helper()
	dir := t.TempDir()
	m := &machine{name: name, mac: mac, fw: fw, disk: filepath.Join(dir, "disk.raw"), memoryMB: memoryMB}
	if err := garbageDisk(m.disk, size); err != nil {
		t.Fatal(err)
	}
	if fw == UEFI {
		m.vars = filepath.Join(dir, "OVMF_VARS.fd")
		b, err := os.ReadFile(harness.OVMFVars)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(m.vars, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func (m *machine) boot(t *testing.T, l *Lab, run string) *VM {
	m.runs++
	return harness.StartVM(t, fmt.Sprintf("%s-%d-%s", m.name, m.runs, run), VMConfig{Firmware: m.fw, MAC: m.mac, Disk: m.disk, Vars: m.vars, Netns: l.NS.Name(), Tap: l.Tap, MemoryMB: m.memoryMB, ExtraDisks: m.extra})
}

func (l *Lab) register(m *machine) {
	l.t.Helper()
	l.MustAPI("POST", "/api/v1/machines", boot.Machine{Name: m.name, MACs: []string{m.mac}}, nil)
}

// ovhClient creates OVH credentials through the native API and returns the
// official OVH Go client pointed at byoi, dialing from inside the lab.
func (l *Lab) ovhClient() *ovh.Client {
	l.t.Helper()
	var cred struct {
		ApplicationKey    string `json:"applicationKey"`
		ApplicationSecret string `json:"applicationSecret"`
		ConsumerKey       string `json:"consumerKey"`
	}
	l.MustAPI("POST", "/api/v1/credentials", map[string]string{"kind": "ovh", "name": "e2e"}, &cred)
	if cred.ApplicationKey == "" || cred.ApplicationSecret == "" || cred.ConsumerKey == "" {
		l.t.Fatalf("credentials answer lacks keys: %+v", cred)
	}
	c, err := ovh.NewClient(l.Base+"/1.0", cred.ApplicationKey, cred.ApplicationSecret, cred.ConsumerKey)
	if err != nil {
		l.t.Fatal(err)
	}
	c.Client = l.HTTPClient()
	return c
}

type ovhTask struct {
	TaskID   int64  `json:"taskId"`
	Function string `json:"function"`
	Status   string `json:"status"`
	Comment  string `json:"comment"`
}

type installStatus struct {
	ElapsedTime int64 `json:"elapsedTime"`
	Progress    []struct {
		Comment string `json:"comment"`
		Status  string `json:"status"`
		Error   string `json:"error"`
	} `json:"progress"`
}

// waitTask polls the native API until the task leaves todo/doing.
func (l *Lab) waitTask(id int64, timeout time.Duration) boot.Task {
	l.t.Helper()
	deadline := time.Now().Add(timeout)
	var task boot.Task
	for {
		l.MustAPI("GET", fmt.Sprintf("/api/v1/tasks/%d", id), nil, &task)
		if task.Status.Final() {
			return task
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("task %d still %s after %s: %+v", id, task.Status, timeout, task.Steps)
		}
		time.Sleep(time.Second)
	}
}

func fileDigest(t *testing.T, path, kind string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h interface {
		io.Writer
		Sum([]byte) []byte
	} = sha512.New()
	if kind == "sha256" {
		h = sha256.New()
	}
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// serialWaiter finds markers on a VM's serial console (*VM, *serialFile).
type serialWaiter interface {
	Wait(marker string, timeout time.Duration) string
}

// assertProbe checks what the installed system's probe printed from the config drive.
func assertProbe(t *testing.T, vm serialWaiter, hostname string, meta map[string]string) {
	t.Helper()
	line := vm.Wait("BYOI-PROBE-META", localBudget)
	for _, want := range []string{`"hostname": "` + hostname + `"`, `"role": "` + meta["role"] + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("meta_data.json = %s, want it to contain %s", line, want)
		}
	}
	ud := vm.Wait("BYOI-PROBE-USERDATA", 30*time.Second)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ud[strings.Index(ud, "BYOI-PROBE-USERDATA")+len("BYOI-PROBE-USERDATA"):]))
	if err != nil || !strings.Contains(string(raw), userDataMarker) {
		t.Errorf("user_data = %q (%v), want it to contain %s", raw, err, userDataMarker)
	}
	vm.Wait("BYOI-PROBE-DONE", 30*time.Second)
}

// installAndCheck boots the machine into the installer for an already
// submitted task, waits for the task to finish and checks install/status.
func installAndCheck(t *testing.T, l *Lab, m *machine, flow string, taskID int64, oc *ovh.Client) {
	installAndCheckRestart(t, l, m, flow, taskID, oc, false)
}

// installAndCheckRestart is installAndCheck; with restart, byoi is restarted
// on the same state while the installer is downloading, and the installer's
// later reports must still complete the task.
func installAndCheckRestart(t *testing.T, l *Lab, m *machine, flow string, taskID int64, oc *ovh.Client, restart bool) {
	t.Helper()
	vm := m.boot(t, l, "install")
	vm.Wait("byoi: installing", pxeBudget)
	harness.Timing(flow, "pxe→script", vm.Since())
	vm.Wait(`msg="task received"`, 2*time.Minute)
	harness.Timing(flow, "installer up", vm.Since())
	if restart {
		l.RestartByoi("full")
		harness.Timing(flow, "byoi restarted", vm.Since())
	}
	task := l.waitTask(taskID, installBudget)
	harness.Timing(flow, "image written", vm.Since())
	if task.Status != boot.StatusDone {
		t.Fatalf("task %d ended %s: %s\nsteps: %+v", taskID, task.Status, task.Message, task.Steps)
	}
	if err := vm.Exited(2 * time.Minute); err != nil {
		t.Fatalf("installer did not reboot: %v", err)
	}
	if oc != nil {
		var st installStatus
		if err := oc.Get("/dedicated/server/"+m.name+"/install/status", &st); err != nil {
			t.Fatalf("install/status: %v", err)
		}
		if len(st.Progress) == 0 {
			t.Fatalf("install/status has no steps")
		}
		for _, p := range st.Progress {
			if p.Status != "done" {
				t.Errorf("install/status step %q = %s (%s), want done", p.Comment, p.Status, p.Error)
			}
		}
	}
}

// TestUEFIReinstall is flow 1 (and 5): the OVH /1.0 reinstall route with a
// qcow2 image, sha512, httpHeaders, efiBootloaderPath and every config drive
// field; OVMF PXE → ipxe.efi → installer → reboot → local boot of the
// loader at a non-default path → the probe prints the config drive. The
// VM has 512 MiB of RAM and the image is 2 GiB with 256 MiB of incompressible data.
func TestUEFIReinstall(t *testing.T) {
	fix := harness.Fixtures(t)
	l := harness.NewLab(t, LabOptions{})
	// Issue 6 P3: a machine with 512 MiB of RAM installs a 2 GiB image
	// holding bigDataSize incompressible bytes.
	m := newSizedMachine(t, "e2e-uefi", "52:54:00:b0:01:01", UEFI, bigImageSize+256<<20, 512)
	l.register(m)
	oc := l.ovhClient()
	meta := map[string]string{"role": "e2e-webserver", "flow": "uefi"}
	body := map[string]any{
		"operatingSystem": "byoi_64",
		"customizations": map[string]any{
			"hostname":            "e2e-uefi-host",
			"imageURL":            l.Images + "/" + filepath.Base(fix.UEFIQcow2),
			"imageType":           "qcow2",
			"imageCheckSum":       fileDigest(t, fix.UEFIQcow2, "sha512"),
			"imageCheckSumType":   "sha512",
			"httpHeaders":         map[string]string{"Authorization": imageAuth},
			"efiBootloaderPath":   EFILoaderPath,
			"sshKey":              "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs e2e@byoi",
			"configDriveUserData": base64.StdEncoding.EncodeToString([]byte("#cloud-config\n# " + userDataMarker + "\n")),
			"configDriveMetadata": meta,
		},
	}
	var task ovhTask
	if err := oc.Post("/dedicated/server/"+m.name+"/reinstall", body, &task); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	if task.TaskID == 0 || task.Status != "todo" {
		t.Fatalf("reinstall answered %+v, want a todo task", task)
	}
	wait := l.startWaitCLI(m.name)
	installAndCheck(t, l, m, "uefi", task.TaskID, oc)
	wait.check(t)

	vm := m.boot(t, l, "local")
	vm.Wait("byoi: local boot", pxeBudget)
	harness.Timing("uefi", "pxe→local script", vm.Since())
	vm.Wait("BYOI-PROBE-BOOTED", localBudget)
	harness.Timing("uefi", "installed OS up", vm.Since())
	assertProbe(t, vm, "e2e-uefi-host", meta)
	if err := vm.Exited(time.Minute); err != nil {
		t.Errorf("probe did not power off: %v", err)
	}
	checkWrittenDisk(t, m.disk, fix.UEFIBigRaw, 2)
	l.checkTimeline(m.name, boot.EventDHCP, boot.EventBootDecision, boot.EventStep, boot.EventTaskDone)
}

// checkTimeline asserts that the machine's recent history holds each kind of event.
func (l *Lab) checkTimeline(name string, kinds ...boot.EventKind) {
	l.t.Helper()
	var v struct {
		Events []boot.Event `json:"events"`
	}
	l.MustAPI("GET", "/api/v1/machines/"+name, nil, &v)
	seen := map[boot.EventKind]bool{}
	for _, e := range v.Events {
		seen[e.Kind] = true
	}
	for _, k := range kinds {
		if !seen[k] {
			l.t.Errorf("machine %s: no %q event in its timeline %+v", name, k, v.Events)
		}
	}
}

// TestBIOSReinstall is flow 2: SeaBIOS with QEMU's 2019 iPXE ROM as the
// vendor PXE → byoi's undionly.kpxe → installer → raw.gz → sanboot 0x80.
// byoi is restarted while the installer works: the task still completes.
func TestBIOSReinstall(t *testing.T) {
	fix := harness.Fixtures(t)
	l := harness.NewLab(t, LabOptions{})
	m := newMachine(t, "e2e-bios", "52:54:00:b0:02:01", BIOS)
	l.register(m)
	spec := boot.InstallSpec{
		ImageURL:            l.Images + "/" + filepath.Base(fix.BIOSRawGz),
		ImageType:           "raw",
		ImageCheckSum:       fileDigest(t, fix.BIOSRawGz, "sha256"),
		ImageCheckSumType:   "sha256",
		HTTPHeaders:         map[string]string{"Authorization": imageAuth},
		Hostname:            "e2e-bios-host",
		ConfigDriveUserData: "#cloud-config\n# " + userDataMarker + "\n",
		ConfigDriveMetadata: map[string]string{"role": "e2e-bios"},
	}
	var task boot.Task
	l.MustAPI("POST", "/api/v1/machines/"+m.name+"/tasks", spec, &task)
	installAndCheckRestart(t, l, m, "bios", task.ID, nil, true)

	vm := m.boot(t, l, "local")
	vm.Wait("byoi: local boot", pxeBudget)
	harness.Timing("bios", "pxe→local script", vm.Since())
	vm.Wait("BYOI-PROBE-BOOTED", localBudget)
	harness.Timing("bios", "installed OS up", vm.Since())
	assertProbe(t, vm, "e2e-bios-host", spec.ConfigDriveMetadata)
}

// TestBadChecksum is flow 3: a wrong checksum ends the task in customerError
// with OVH's message, and the next PXE boot does not boot the disk.
func TestBadChecksum(t *testing.T) {
	fix := harness.Fixtures(t)
	l := harness.NewLab(t, LabOptions{})
	m := newMachine(t, "e2e-badsum", "52:54:00:b0:03:01", UEFI)
	l.register(m)
	want := strings.Repeat("0", 64)
	spec := boot.InstallSpec{
		ImageURL: l.Images + "/" + filepath.Base(fix.UEFIRaw), ImageType: "raw",
		ImageCheckSum: want, ImageCheckSumType: "sha256",
		HTTPHeaders:       map[string]string{"Authorization": imageAuth},
		EFIBootloaderPath: EFILoaderPath,
	}
	var task boot.Task
	l.MustAPI("POST", "/api/v1/machines/"+m.name+"/tasks", spec, &task)
	vm := m.boot(t, l, "install")
	vm.Wait("byoi: installing", pxeBudget)
	harness.Timing("badsum", "pxe→script", vm.Since())
	got := l.waitTask(task.ID, installBudget)
	harness.Timing("badsum", "task failed", vm.Since())
	wantMsg := fmt.Sprintf("Bad sha256 for downloaded file, got: %s while expecting %s.", fileDigest(t, fix.UEFIRaw, "sha256"), want)
	if got.Status != boot.StatusCustomerError || got.Message != wantMsg {
		t.Fatalf("task = %s %q, want customerError %q", got.Status, got.Message, wantMsg)
	}
	vm.Kill()

	vm = m.boot(t, l, "after")
	line, err := vm.WaitAny([]string{"byoi: local boot", "byoi: exit", "byoi: installing"}, pxeBudget)
	if err != nil {
		t.Fatalf("no boot decision after the failed task: %v", err)
	}
	if strings.Contains(line, "byoi: local boot") {
		t.Fatalf("machine was sent to local boot after a failed install: %q", line)
	}
	harness.Timing("badsum", "pxe→exit script", vm.Since())
}

// TestProxyDHCP is flow 4: dnsmasq is the lab's plain DHCP server, byoi runs
// in proxy mode, and a UEFI reinstall (raw image) still goes through.
func TestProxyDHCP(t *testing.T) {
	fix := harness.Fixtures(t)
	l := harness.NewLab(t, LabOptions{DHCPMode: "proxy", LabDHCP: true})
	m := newMachine(t, "e2e-proxy", "52:54:00:b0:04:01", UEFI)
	l.register(m)
	spec := boot.InstallSpec{
		ImageURL: l.Images + "/" + filepath.Base(fix.UEFIRaw), ImageType: "raw",
		HTTPHeaders:         map[string]string{"Authorization": imageAuth},
		EFIBootloaderPath:   EFILoaderPath,
		Hostname:            "e2e-proxy-host",
		ConfigDriveUserData: "#cloud-config\n# " + userDataMarker + "\n",
		ConfigDriveMetadata: map[string]string{"role": "e2e-proxy"},
	}
	var task boot.Task
	l.MustAPI("POST", "/api/v1/machines/"+m.name+"/tasks", spec, &task)
	installAndCheck(t, l, m, "proxy", task.ID, nil)
	vm := m.boot(t, l, "local")
	vm.Wait("BYOI-PROBE-BOOTED", pxeBudget+localBudget)
	harness.Timing("proxy", "installed OS up", vm.Since())
	assertProbe(t, vm, "e2e-proxy-host", spec.ConfigDriveMetadata)
}

// TestUnknownMACDiscovered: a machine byoi does not know PXE-boots, gets the
// exit script, and is listed as discovered.
func TestUnknownMACDiscovered(t *testing.T) {
	l := harness.NewLab(t, LabOptions{})
	m := newMachine(t, "unknown", "52:54:00:b0:05:01", UEFI)
	vm := m.boot(t, l, "pxe")
	vm.Wait("byoi: exit", pxeBudget)
	harness.Timing("discover", "pxe→exit script", vm.Since())
	var ms []boot.Machine
	l.MustAPI("GET", "/api/v1/machines", nil, &ms)
	for _, got := range ms {
		if got.Discovered && len(got.MACs) == 1 && got.MACs[0] == m.mac {
			return
		}
	}
	t.Fatalf("machines = %+v, want a discovered machine with MAC %s", ms, m.mac)
}

// TestResetMidInstall: the VM is reset while its installer writes the disk.
// Its next PXE boot gets no second installer token: the task ends in
// ovhError and the machine exits instead of booting a half-written disk;
// a new reinstall then completes.
func TestResetMidInstall(t *testing.T) {
	fix := harness.Fixtures(t)
	l := harness.NewLab(t, LabOptions{})
	m := newMachine(t, "e2e-reset", "52:54:00:b0:06:01", UEFI)
	l.register(m)
	spec := boot.InstallSpec{
		ImageURL: l.Images + "/slow/" + filepath.Base(fix.UEFIRaw), ImageType: "raw",
		HTTPHeaders:       map[string]string{"Authorization": imageAuth},
		EFIBootloaderPath: EFILoaderPath,
	}
	var first boot.Task
	l.MustAPI("POST", "/api/v1/machines/"+m.name+"/tasks", spec, &first)
	vm := m.boot(t, l, "install")
	vm.Wait(`msg="task received"`, pxeBudget+2*time.Minute)
	time.Sleep(5 * time.Second) // ~10 MiB of the 48 MiB image written
	var mid boot.Task
	l.MustAPI("GET", fmt.Sprintf("/api/v1/tasks/%d", first.ID), nil, &mid)
	if mid.Status != boot.StatusDoing {
		t.Fatalf("task before the reset = %s, want doing", mid.Status)
	}
	vm.Kill()
	harness.Timing("reset", "reset mid-write", vm.Since())

	vm = m.boot(t, l, "after-reset")
	line, err := vm.WaitAny([]string{"byoi: exit", "byoi: installing", "byoi: local boot"}, pxeBudget)
	if err != nil || !strings.Contains(line, "byoi: exit") {
		t.Fatalf("boot after a reset mid-install = %q (%v), want the exit script", line, err)
	}
	harness.Timing("reset", "pxe→exit script", vm.Since())
	vm.Kill()
	got := l.waitTask(first.ID, 10*time.Second)
	if got.Status != boot.StatusOVHError || !strings.HasPrefix(got.Message, "The server rebooted during the installation") {
		t.Fatalf("task after the reset = %s %q, want ovhError, rebooted during the installation", got.Status, got.Message)
	}

	spec.ImageURL = l.Images + "/" + filepath.Base(fix.UEFIRaw)
	var again boot.Task
	l.MustAPI("POST", "/api/v1/machines/"+m.name+"/tasks", spec, &again)
	installAndCheck(t, l, m, "reset", again.ID, nil)
}
