package agent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/internal/testfs"
)

// byoiServer is a byoi server for the agent, small and real: it hands out
// one task, records every progress report, log batch (dropping lines sent
// twice, as the server must), done and error, and serves image files.
type byoiServer struct {
	t     *testing.T
	task  agentapi.Task
	token string
	srv   *httptest.Server

	mu       sync.Mutex
	progress []agentapi.Progress
	lines    map[boot.StepID][]string
	done     *agentapi.Done
	failure  *agentapi.Failure
}

func newByoiServer(t *testing.T, task agentapi.Task, images map[string]string) *byoiServer {
	s := &byoiServer{t: t, task: task, token: "vm-test-token", lines: map[boot.StepID][]string{}}
	mux := http.NewServeMux()
	auth := func(h func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+s.token {
				http.Error(w, `{"message":"bad token"}`, http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	decode := func(r *http.Request, v any) bool { return json.NewDecoder(r.Body).Decode(v) == nil }
	mux.HandleFunc("GET "+agentapi.PathTask, auth(func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(s.task) }))
	mux.HandleFunc("POST "+agentapi.PathProgress, auth(func(w http.ResponseWriter, r *http.Request) {
		var p agentapi.Progress
		if !decode(r, &p) {
			http.Error(w, "bad body", 400)
			return
		}
		s.mu.Lock()
		s.progress = append(s.progress, p)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST "+agentapi.PathLog, auth(func(w http.ResponseWriter, r *http.Request) {
		var l agentapi.Log
		if !decode(r, &l) || l.Seq < 0 {
			http.Error(w, "bad body", 400)
			return
		}
		s.mu.Lock()
		have := int64(len(s.lines[l.Step]))
		if l.Seq > have {
			s.mu.Unlock()
			http.Error(w, "gap in the log", 400)
			return
		}
		for i, line := range l.Lines {
			if l.Seq+int64(i) >= have {
				s.lines[l.Step] = append(s.lines[l.Step], line)
			}
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST "+agentapi.PathDone, auth(func(w http.ResponseWriter, r *http.Request) {
		var d agentapi.Done
		decode(r, &d)
		s.mu.Lock()
		s.done = &d
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST "+agentapi.PathError, auth(func(w http.ResponseWriter, r *http.Request) {
		var f agentapi.Failure
		decode(r, &f)
		s.mu.Lock()
		s.failure = &f
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /images/{name}", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(images[r.PathValue("name")])
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		w.Header().Set("ETag", `"`+r.PathValue("name")+`"`)
		http.ServeContent(w, r, "", time.Unix(1, 0), f) // block devices seek to their end
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

// run runs the agent against the server, as /init would, without rebooting.
func (s *byoiServer) run(t *testing.T) error {
	env := Env{
		Cmdline: fmt.Sprintf("BOOT_IMAGE=vmlinuz byoi.server=%s byoi.task=%d byoi.token=%s console=ttyS0,115200", s.srv.URL, s.task.ID, s.token),
		SysRoot: "/sys", DevRoot: "/dev", DiskWait: 10 * time.Second, ReportRetry: 20 * time.Second,
		ProgressEvery: 200 * time.Millisecond, WorkDir: t.TempDir(), ScriptTimeout: 5 * time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	return Run(ctx, env)
}

func (s *byoiServer) steps() map[boot.StepID]boot.StepStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[boot.StepID]boot.StepStatus{}
	for _, p := range s.progress {
		out[p.Step] = p.Status
	}
	return out
}

// vmEnv reads the test VM's description: the target disks' size, the
// image devices (name=/dev/vdX) and the spare disk for refusals.
func vmEnv(t *testing.T) (targetSize int64, images map[string]string, spare string) {
	t.Helper()
	testfs.NeedVM(t)
	testfs.NeedRoot(t)
	targetSize, _ = strconv.ParseInt(os.Getenv("BYOI_TEST_TARGET_SIZE"), 10, 64)
	images = map[string]string{}
	for _, kv := range strings.Fields(os.Getenv("BYOI_TEST_IMAGES")) {
		k, v, _ := strings.Cut(kv, "=")
		images[k] = v
	}
	spare = os.Getenv("BYOI_TEST_SPARE")
	if targetSize == 0 || len(images) == 0 || spare == "" {
		t.Fatalf("BYOI_TEST_TARGET_SIZE, BYOI_TEST_IMAGES and BYOI_TEST_SPARE must describe the VM's disks")
	}
	exec.Command("lvm", "vgchange", "-an").Run()
	exec.Command("mdadm", "--stop", "--scan").Run()
	return targetSize, images, spare
}

func newTask(url string, spec boot.InstallSpec, hints boot.DiskHints) agentapi.Task {
	spec.OperatingSystem, spec.ImageType, spec.ImageURL = boot.OSBYOLinux, "qcow2", url
	return agentapi.Task{ID: 7, Machine: "vm-test", Spec: spec, Disk: hints, Steps: boot.StepsFor(boot.OSBYOLinux)}
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBYOLinuxVM installs an XFS image (one GPT partition) with an explicit
// layout: /boot RAID1, / RAID5, /srv btrfs RAID0, LVM on RAID10 (/var,
// swap, /home) over four disks; then assembles what it wrote the way the
// installed system does and checks the files, the script's run and fstab.
func TestBYOLinuxVM(t *testing.T) {
	size, images, _ := vmEnv(t)
	one := func(l int) *int { return &l }
	spec := boot.InstallSpec{Hostname: "vm-test", SSHKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIByoiTestKeyForTheConfigDriveOnly test",
		Partitioning: &boot.Partitioning{Layout: []boot.LayoutEntry{
			{MountPoint: "/boot", FileSystem: "ext4", RaidLevel: one(1), Size: 256},
			{MountPoint: "/", FileSystem: "xfs", RaidLevel: one(5), Size: 900},
			{MountPoint: "/srv", FileSystem: "btrfs", RaidLevel: one(0), Size: 256},
			{MountPoint: "/var", FileSystem: "ext4", RaidLevel: one(10), Size: 300, Extras: &boot.LayoutExtras{LV: &boot.LVExtra{Name: "var"}}},
			{MountPoint: "swap", FileSystem: "swap", RaidLevel: one(10), Size: 64, Extras: &boot.LayoutExtras{LV: &boot.LVExtra{Name: "swap"}}},
			{MountPoint: "/home", FileSystem: "ext4", RaidLevel: one(10), Size: 0, Extras: &boot.LayoutExtras{LV: &boot.LVExtra{Name: "home"}}},
		}}}
	s := newByoiServer(t, agentapi.Task{}, images)
	s.task = newTask(s.srv.URL+"/images/xfs", spec, boot.DiskHints{MinSize: size, MaxSize: size})
	start := time.Now()
	if err := s.run(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	t.Logf("installed in %s", time.Since(start).Round(time.Second))
	if s.done == nil || s.done.BootMode != boot.BootModeLocal || s.done.EFIBootloaderPath != "" {
		t.Fatalf("done = %+v, want local boot without a UEFI path (legacy VM)", s.done)
	}
	for _, id := range boot.StepsFor(boot.OSBYOLinux)[:8] {
		if st := s.steps()[id]; st != boot.StepDone {
			t.Errorf("step %s ended %q, want done", id, st)
		}
	}
	script := strings.Join(s.lines[boot.StepBootloader], "\n")
	for _, want := range []string{"byoi-test-script: start", "cmdline=console=ttyS0,115200", "BYOI_UEFI=0", "efi=no", "UUID=", "ARRAY /dev/md/root"} {
		if !strings.Contains(script, want) {
			t.Errorf("script output has no %q:\n%s", want, script)
		}
	}
	if strings.Contains(script, "vm-test-token") {
		t.Errorf("the script saw the installer's token:\n%s", script)
	}
	if len(s.lines[boot.StepPartition]) == 0 {
		t.Errorf("no output of mdadm/mkfs was sent for the partition step")
	}
	// The installed system: assemble, activate, mount, look (cleanups run
	// last first: unmount, then deactivate and stop).
	t.Cleanup(func() { exec.Command("mdadm", "--stop", "--scan").Run() })
	t.Cleanup(func() { exec.Command("lvm", "vgchange", "-an", "vg").Run() })
	md := assemble(t)
	t.Logf("vgchange -ay: %s", strings.TrimSpace(sh(t, "lvm", "vgchange", "-ay", "vg")))
	// No udev in the test VM: LVM leaves the /dev/mapper nodes to it when
	// it believes it runs; vgmknodes makes the missing ones.
	t.Logf("vgmknodes: %s", strings.TrimSpace(sh(t, "lvm", "vgmknodes", "vg")))
	root := t.TempDir()
	testfs.MountAt(t, md["root"], root, "xfs", "ro")
	testfs.MountAt(t, md["boot"], filepath.Join(root, "boot"), "ext4", "ro")
	testfs.MountAt(t, md["srv"], filepath.Join(root, "srv"), "btrfs", "ro")
	testfs.MountAt(t, "/dev/mapper/vg-var", filepath.Join(root, "var"), "ext4", "ro")
	testfs.MountAt(t, "/dev/mapper/vg-home", filepath.Join(root, "home"), "ext4", "ro")
	checkInstalled(t, root)
	fstab, _ := os.ReadFile(filepath.Join(root, "etc/fstab"))
	if n := strings.Count(string(fstab), "\nUUID="); n != 6 {
		t.Errorf("fstab has %d UUID entries, want 6:\n%s", n, fstab)
	}
}

// assemble assembles every array found on the disks, as the installed
// system's mdadm does, and returns their devices by array name (without
// the installed system's mdadm.conf the VM's mdadm names them md127, …).
func assemble(t *testing.T) map[string]string {
	t.Helper()
	sh(t, "mdadm", "--assemble", "--scan")
	devs, _ := filepath.Glob("/dev/md[0-9]*")
	out := map[string]string{}
	for _, d := range devs {
		b, err := exec.Command("mdadm", "--detail", "--export", d).Output()
		if err != nil {
			continue // a node left by a stopped array
		}
		for _, l := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(l, "MD_NAME="); ok {
				out[name] = d
			}
		}
	}
	t.Logf("arrays: %v", out)
	return out
}

// checkInstalled compares the files the image builder recorded in
// /byoi-manifest (path sha256) with what is on the target.
func checkInstalled(t *testing.T, root string) {
	t.Helper()
	m, err := os.ReadFile(filepath.Join(root, "byoi-manifest"))
	if err != nil {
		t.Fatalf("the installed system has no /byoi-manifest: %v", err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(m)), "\n") {
		sum, path, _ := strings.Cut(line, "  ")
		if path == "etc/fstab" {
			continue // rewritten by the installer
		}
		f, err := os.Open(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if got := fmt.Sprintf("%x", h.Sum(nil)); got != sum {
			t.Errorf("%s: sha256 %s, want %s", path, got, sum)
		}
		n++
	}
	capv := make([]byte, 64)
	if k, err := unix.Lgetxattr(filepath.Join(root, "usr/bin/pinger"), "security.capability", capv); err != nil || k != 20 {
		t.Errorf("security.capability of /usr/bin/pinger: %d bytes, %v", k, err)
	}
	if _, err := os.Stat(filepath.Join(root, "root/byoi-script-ran")); err != nil {
		t.Errorf("the script's marker is missing: %v", err)
	}
	t.Logf("%d files checked against the image's manifest", n)
}

// TestBYOLinuxVMScriptFails: a btrfs image (bare file system, default
// layout, two disks) whose script exits 3: the task fails as the
// customer's, with the script's last lines, every line reached the server,
// and no local boot is switched on.
func TestBYOLinuxVMScriptFails(t *testing.T) {
	size, images, _ := vmEnv(t)
	s := newByoiServer(t, agentapi.Task{}, images)
	s.task = newTask(s.srv.URL+"/images/btrfs-failing", boot.InstallSpec{Partitioning: &boot.Partitioning{Disks: 2}},
		boot.DiskHints{MinSize: size, MaxSize: size})
	err := s.run(t)
	if err == nil || s.done != nil {
		t.Fatalf("Run() = %v, done %+v; want a failure and no done", err, s.done)
	}
	f := s.failure
	if f == nil || f.Class != agentapi.ClassCustomer || f.Step != boot.StepBootloader ||
		!strings.HasPrefix(f.Message, "/root/.ovh/make_image_bootable.sh exited with status 3; last lines of its output:\n") ||
		!strings.HasSuffix(f.Message, "\nline 30\nbyoi-test-script: failing on purpose") {
		t.Fatalf("failure = %+v, want the customer's at bootloader with the last lines", f)
	}
	lines := s.lines[boot.StepBootloader]
	all := strings.Join(lines, "\n")
	if len(lines) < 33 || lines[0] != "byoi-test-script: start" || !strings.Contains(all, "\nline 1\n") ||
		lines[len(lines)-1] != "byoi-test-script: failing on purpose" {
		t.Errorf("server log has %d lines, want every line of the script's output:\n%s", len(lines), all)
	}
}

// TestBYOLinuxVMRefusedBeforeWriting: images byoi must refuse (two
// partitions; no make_image_bootable.sh) fail at the inspect step as the
// customer's, and the disk is byte for byte what it was.
func TestBYOLinuxVMRefusedBeforeWriting(t *testing.T) {
	_, images, spare := vmEnv(t)
	tests := []struct{ image, want string }{
		{"two-partitions", "image provided has 2 partitions (1: 100 MiB, a FAT file system; 2: "},
		{"noscript", "/root/.ovh/make_image_bootable.sh not found in the image"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			before := diskSum(t, spare)
			s := newByoiServer(t, agentapi.Task{}, images)
			s.task = newTask(s.srv.URL+"/images/"+tt.image, boot.InstallSpec{}, boot.DiskHints{Path: spare})
			err := s.run(t)
			f := s.failure
			if err == nil || f == nil || f.Class != agentapi.ClassCustomer || f.Step != boot.StepInspect || !strings.HasPrefix(f.Message, tt.want) {
				t.Fatalf("Run() = %v, failure %+v; want the customer's at inspect starting %q", err, f, tt.want)
			}
			if after := diskSum(t, spare); after != before {
				t.Errorf("%s changed: sha256 %s before, %s after", spare, before, after)
			}
			t.Logf("refused: %s", f.Message)
		})
	}
}

func diskSum(t *testing.T, dev string) string {
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestBYOLinuxVMBigImage installs an image larger than twice the VM's
// memory (default layout, RAID1 over two disks) and reports the peak
// resident memory of the process (agent, test server and test together),
// which must stay within 64 MiB.
func TestBYOLinuxVMBigImage(t *testing.T) {
	size, images, _ := vmEnv(t)
	if images["big"] == "" {
		t.Fatal("BYOI_TEST_IMAGES has no big image")
	}
	s := newByoiServer(t, agentapi.Task{}, images)
	s.task = newTask(s.srv.URL+"/images/big", boot.InstallSpec{Partitioning: &boot.Partitioning{Disks: 2}},
		boot.DiskHints{MinSize: size, MaxSize: size})
	start := time.Now()
	if err := s.run(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	elapsed := time.Since(start)
	st, _ := os.ReadFile("/proc/self/status")
	var hwm int64
	for _, l := range strings.Split(string(st), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	mem, _ := os.ReadFile("/proc/meminfo")
	img, _ := os.Open(images["big"])
	imgSize, _ := img.Seek(0, io.SeekEnd)
	img.Close()
	t.Logf("BIGIMAGE file=%d bytes, VM %s, installed in %s, peak RSS %d KiB", imgSize, strings.SplitN(string(mem), "\n", 2)[0], elapsed.Round(time.Second), hwm)
	var memKiB int64
	if f := strings.Fields(string(mem)); len(f) >= 2 && f[0] == "MemTotal:" {
		memKiB, _ = strconv.ParseInt(f[1], 10, 64)
	}
	if memKiB == 0 || imgSize <= 2*memKiB<<10 {
		t.Errorf("image file %d bytes, VM memory %d KiB: the image must be more than twice the memory", imgSize, memKiB)
	}
	if hwm > 64<<10 {
		t.Errorf("peak RSS %d KiB, want at most 64 MiB", hwm)
	}
	t.Cleanup(func() { exec.Command("mdadm", "--stop", "--scan").Run() })
	md := assemble(t)
	root := t.TempDir()
	testfs.MountAt(t, md["root"], root, "ext4", "ro")
	checkInstalled(t, root)
}
