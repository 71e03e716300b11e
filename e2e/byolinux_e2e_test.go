package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/e2e/distro"
)

// BYOLinux through the whole flow: the OVH reinstall route with
// byolinux_64, PXE, the installer (initrd.img with the tools layer
// tools.img, as byoi serves them), the installed Debian booting from its md
// root.

var byolinuxCached = cachedImage{name: "byolinux", build: (*distro.Builder).BYOLinuxImage}

// byolinuxImage returns the cached Debian BYOLinux image (one ext4
// partition, /root/.ovh/make_image_bootable.sh), building it the first time.
func byolinuxImage(t *testing.T) distro.Image { return byolinuxCached.get(t) }

// byolinuxUserData goes onto the config drive. The image's own
// byoi-e2e-marker.service (cloud-init is disabled in it, to keep the boot
// short under TCG) prints, from the installed system, its root device, the
// config drive with the hostname in its meta_data.json, and the RAID
// state, then powers off.
const byolinuxUserData = "#cloud-config\nfinal_message: byoi e2e\n"

// raidMachine is a machine with n disks of size bytes: sparse, with
// garbage at their start and end (old tables and signatures).
func raidMachine(t *testing.T, name, mac string, fw Firmware, n int, size int64) *machine {
	t.Helper()
	m := newSizedMachine(t, name, mac, fw, 32<<20, 1024)
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		p := m.disk
		if i > 0 {
			p = filepath.Join(dir, fmt.Sprintf("disk%d.raw", i))
			if err := garbageDisk(p, 32<<20); err != nil {
				t.Fatal(err)
			}
			m.extra = append(m.extra, p)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		if err := fillPattern(p, size-(16<<20), 16<<20, uint64(i+3)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// byolinuxFlow reinstalls m with the Debian BYOLinux image and the default
// layout, then boots it and returns the installed system's marker line.
func byolinuxFlow(t *testing.T, m *machine, flow string) string {
	img := byolinuxImage(t)
	fix := harness.Fixtures(t)
	served := filepath.Join(fix.Dir, "debian-byolinux.qcow2")
	if _, err := os.Lstat(served); err != nil {
		if err := os.Symlink(img.Path, served); err != nil {
			t.Fatal(err)
		}
	}
	l := harness.NewLab(t, LabOptions{}) // bin/boot: initrd.img, then tools.img for BYOLinux
	l.register(m)
	oc := l.ovhClient()
	body := map[string]any{
		"operatingSystem": "byolinux_64",
		"customizations": map[string]any{
			"hostname":            m.name + "-host",
			"imageURL":            l.Images + "/" + filepath.Base(served),
			"imageCheckSum":       fileDigest(t, img.Path, "sha256"),
			"imageCheckSumType":   "sha256",
			"httpHeaders":         map[string]string{"Authorization": imageAuth},
			"configDriveUserData": byolinuxUserData,
		},
	}
	var task ovhTask
	if err := oc.Post("/dedicated/server/"+m.name+"/reinstall", body, &task); err != nil {
		t.Fatalf("reinstall byolinux_64: %v", err)
	}
	vm := m.boot(t, l, "install")
	vm.Wait("byoi: installing", pxeBudget)
	harness.Timing(flow, "pxe→script", vm.Since())
	vm.Wait(`msg="task received"`, 2*time.Minute)
	harness.Timing(flow, "installer up", vm.Since())
	vm.Wait("msg=\"files copied\"", 20*time.Minute)
	harness.Timing(flow, "files copied", vm.Since())
	// make_image_bootable.sh runs update-initramfs, silent for 15 minutes
	// and more under TCG; the agent's own limit is 30 minutes.
	done := l.waitTask(task.TaskID, 35*time.Minute)
	harness.Timing(flow, "task ended", vm.Since())
	if done.Status != boot.StatusDone {
		t.Fatalf("task %d ended %s: %s\nsteps: %+v", task.TaskID, done.Status, done.Message, done.Steps)
	}
	if err := vm.Exited(2 * time.Minute); err != nil {
		t.Fatalf("installer did not reboot: %v", err)
	}
	var ids []boot.StepID
	for _, s := range done.Steps {
		ids = append(ids, s.ID)
		if s.Status != boot.StepDone {
			t.Errorf("step %s = %s (%s), want done", s.ID, s.Status, s.Error)
		}
	}
	if want := boot.StepsFor(boot.OSBYOLinux); fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("task steps = %v, want %v", ids, want)
	}
	checkScriptLog(t, l, task.TaskID)
	vm = m.boot(t, l, "local")
	vm.Wait("byoi: local boot", pxeBudget)
	harness.Timing(flow, "pxe→local script", vm.Since())
	line := vm.Wait("BYOI-E2E-BYOLINUX", distroBootBudget)
	harness.Timing(flow, "installed Debian up", vm.Since())
	if err := vm.Exited(3 * time.Minute); err != nil {
		t.Errorf("the installed system did not power off: %v", err)
	}
	return line
}

// TestBYOLinuxUEFI: a UEFI VM with two disks, the default layout (ESP
// RAID1 metadata 1.0, / ext4 RAID1); no efiBootloaderPath: byoi picks shim
// from the ESP; the installed Debian boots from its md root and sees both
// members of its arrays.
func TestBYOLinuxUEFI(t *testing.T) {
	m := raidMachine(t, "e2e-byolinux-uefi", "52:54:00:b1:0e:01", UEFI, 2, 4<<30)
	line := byolinuxFlow(t, m, "byolinux-uefi")
	t.Log(line)
	for _, want := range []string{"root=/dev/md", "configdrive=/dev/vda", "host=e2e-byolinux-uefi-host", "[UU]", "vda2", "vdb2"} {
		if !strings.Contains(line, want) {
			t.Errorf("installed system: %q lacks %q", line, want)
		}
	}
}

// TestBYOLinuxBIOS: a legacy VM with one disk, the default layout (BIOS
// boot partition, / ext4), GRUB in the MBR boots the installed Debian.
func TestBYOLinuxBIOS(t *testing.T) {
	m := raidMachine(t, "e2e-byolinux-bios", "52:54:00:b1:0e:02", BIOS, 1, 4<<30)
	line := byolinuxFlow(t, m, "byolinux-bios")
	t.Log(line)
	for _, want := range []string{"root=/dev/vda2", "configdrive=/dev/vda", "host=e2e-byolinux-bios-host"} {
		if !strings.Contains(line, want) {
			t.Errorf("installed system: %q lacks %q", line, want)
		}
	}
}

// checkScriptLog reads the task's log through the API: it holds the
// output of make_image_bootable.sh (grub-install's last line,
// update-initramfs's), under the script's step.
func checkScriptLog(t *testing.T, l *Lab, id int64) {
	t.Helper()
	var lg boot.TaskLog
	l.MustAPI("GET", fmt.Sprintf("/api/v1/tasks/%d/log?limit=5000", id), nil, &lg)
	if lg.Status != boot.StatusDone || lg.More {
		t.Errorf("task log: status %s, more %v; want the whole log of a done task", lg.Status, lg.More)
	}
	found := map[string]bool{}
	for _, ln := range lg.Lines {
		for _, want := range []string{"Installation finished. No error reported.", "update-initramfs: Generating"} {
			if strings.Contains(ln.Text, want) {
				found[want] = true
				if ln.Step != boot.StepBootloader {
					t.Errorf("log line %d %q is under step %s, want %s", ln.Index, ln.Text, ln.Step, boot.StepBootloader)
				}
			}
		}
	}
	if len(found) != 2 {
		t.Errorf("task log (%d lines) lacks the script's output: found %v", len(lg.Lines), found)
	}
	t.Logf("task log: %d lines", len(lg.Lines))
}
