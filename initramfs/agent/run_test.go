package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/image"
)

const (
	testImageSize = 4 << 20
	testDiskSize  = 16 << 20
)

type harness struct {
	srv      *agentServer
	img      []byte
	diskPath string
	env      Env
	clock    *fakeClock
	reboots  []bool
}

func newHarness(t *testing.T, spec boot.InstallSpec) *harness {
	t.Helper()
	h := &harness{img: gptImage(t, testImageSize), clock: newFakeClock()}
	imgSrv := imageServer(t, h.img)
	if spec.ImageURL == "" {
		spec.ImageURL = imgSrv.URL + "/image.raw"
	}
	if spec.ImageType == "" {
		spec.ImageType = "raw"
	}
	h.srv = newAgentServer(t, agentapi.Task{ID: 42, Machine: "rack1-07", Spec: spec, Steps: boot.Steps()})
	sys, dev, diskPath := fakeMachine(t, testDiskSize)
	h.diskPath = diskPath
	h.env = Env{
		Cmdline: fmt.Sprintf("console=ttyS0 BOOTIF=01-52-54-00-12-34-56 byoi.server=%s byoi.task=42 byoi.token=%s byoi.poweroff=1", h.srv.URL, h.srv.token),
		SysRoot: sys, DevRoot: dev, Clock: h.clock,
		Reboot:   func(p bool) error { h.reboots = append(h.reboots, p); return nil },
		DiskWait: time.Second, ReportRetry: time.Minute, ProgressEvery: 5 * time.Millisecond, ImageRetryWait: time.Millisecond,
	}
	return h
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRunInstalls(t *testing.T) {
	for _, tc := range []struct {
		name        string
		spec        boot.InstallSpec
		configDrive bool
	}{
		{name: "raw, no customization"},
		{name: "raw with checksum and config drive", configDrive: true, spec: boot.InstallSpec{
			Hostname: "web1", SSHKey: "ssh-ed25519 AAAAC3Nza test@byoi", ConfigDriveUserData: "#cloud-config\n",
			EFIBootloaderPath: `\efi\debian\grubx64.efi`, ImageCheckSumType: "sha256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.spec)
			if tc.spec.ImageCheckSumType != "" {
				sum := sha256.Sum256(h.img)
				h.srv.task.Spec.ImageCheckSum = hex.EncodeToString(sum[:])
			}
			if tc.configDrive {
				// The server names the machine's first MAC; the agent puts in
				// the one it booted from (BOOTIF).
				h.srv.task.Network = &agentapi.Network{MAC: "52:54:00:aa:aa:aa", Mode: agentapi.NetworkDHCP}
			}
			if err := Run(testCtx(t), h.env); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			got, err := os.ReadFile(h.diskPath)
			if err != nil {
				t.Fatal(err)
			}
			// The partition's data is the image's, byte for byte (the GPT
			// headers are rewritten by the GPT and config drive steps).
			if !bytes.Equal(got[2048*512:testImageSize-34*512], h.img[2048*512:testImageSize-34*512]) {
				t.Errorf("disk data differs from the image")
			}
			if string(got[512:520]) != "EFI PART" || string(got[testDiskSize-512:testDiskSize-504]) != "EFI PART" {
				t.Errorf("disk has no primary GPT header or no backup header in its last sector")
			}
			checkConfigDrive(t, got, tc.configDrive)
			if nic := []byte(`"ethernet_mac_address": "52:54:00:12:34:56"`); tc.configDrive && !bytes.Contains(got[testImageSize:], nic) {
				t.Errorf("config drive has no network_data.json for the BOOTIF NIC (%s)", nic)
			}
			wantStatuses := map[boot.StepID][]boot.StepStatus{}
			for _, s := range boot.Steps() {
				wantStatuses[s] = []boot.StepStatus{boot.StepDoing, boot.StepDone}
			}
			wantStatuses[boot.StepReboot] = []boot.StepStatus{boot.StepDone}
			if diff := cmp.Diff(wantStatuses, h.srv.statuses()); diff != "" {
				t.Errorf("reported step statuses mismatch (-want +got):\n%s", diff)
			}
			wantDone := []agentapi.Done{{BootMode: boot.BootModeLocal, EFIBootloaderPath: tc.spec.EFIBootloaderPath, Disk: h.diskPath}}
			if diff := cmp.Diff(wantDone, h.srv.done); diff != "" {
				t.Errorf("done reports mismatch (-want +got):\n%s", diff)
			}
			if len(h.srv.failures) != 0 {
				t.Errorf("error reports = %+v, want none", h.srv.failures)
			}
			if diff := cmp.Diff([]bool{true}, h.reboots); diff != "" {
				t.Errorf("reboots (poweroff flag) mismatch (-want +got):\n%s", diff)
			}
			checkWriteProgress(t, h)
		})
	}
}

// checkWriteProgress: the write step names the disk and its final bytes
// equal the image size.
func checkWriteProgress(t *testing.T, h *harness) {
	t.Helper()
	var last agentapi.Progress
	for _, p := range h.srv.progress {
		if p.Step == boot.StepWrite {
			last = p
			if want := "Writing image to " + h.diskPath + " (virtio, 16.0 MiB)"; p.Comment != want {
				t.Errorf("write step comment = %q, want %q", p.Comment, want)
			}
		}
	}
	if last.Status != boot.StepDone || last.BytesDone != testImageSize || last.BytesTotal != testImageSize {
		t.Errorf("last write progress = %+v, want done %d/%d", last, testImageSize, testImageSize)
	}
}

// checkConfigDrive looks for the ISO9660 config-2 volume in the last MiBs
// of the disk.
func checkConfigDrive(t *testing.T, disk []byte, want bool) {
	t.Helper()
	tail := disk[testImageSize:]
	i := bytes.Index(tail, []byte("\x01CD001"))
	found := i >= 0 && bytes.HasPrefix(tail[i+40:], []byte("config-2"))
	if found != want {
		t.Errorf("config-2 ISO9660 volume found = %v, want %v", found, want)
	}
}

func TestRunImageErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		spec      boot.InstallSpec
		wantStep  boot.StepID
		wantClass string
		wantMsg   string
	}{
		{
			name:     "bad checksum",
			spec:     boot.InstallSpec{ImageCheckSumType: "sha256", ImageCheckSum: strings.Repeat("0", 64)},
			wantStep: boot.StepCheck, wantClass: agentapi.ClassCustomer, wantMsg: "Bad sha256 for downloaded file, got: ",
		},
		{
			name:     "format mismatch",
			spec:     boot.InstallSpec{ImageType: "qcow2"},
			wantStep: boot.StepPreflight, wantClass: agentapi.ClassCustomer,
			wantMsg: "image provided format is raw which does not match expected qcow2 format",
		},
		{
			name:     "404",
			spec:     boot.InstallSpec{ImageURL: "http://127.0.0.1:1/nope.raw"},
			wantStep: boot.StepDownload, wantClass: agentapi.ClassCustomer, wantMsg: "Could not download image: ",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.spec)
			err := Run(testCtx(t), h.env)
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("Run = %v, want a *Failure", err)
			}
			var ie *image.Error
			if !errors.As(err, &ie) {
				t.Errorf("Run error %v does not wrap the *image.Error", err)
			}
			if len(h.srv.failures) != 1 {
				t.Fatalf("error reports = %+v, want one", h.srv.failures)
			}
			got := h.srv.failures[0]
			if got.Step != tc.wantStep || got.Class != tc.wantClass || !strings.HasPrefix(got.Message, tc.wantMsg) {
				t.Errorf("error report = %+v, want step %s class %s message starting %q", got, tc.wantStep, tc.wantClass, tc.wantMsg)
			}
			if !f.Reported || f.Message != got.Message {
				t.Errorf("Failure = %+v, want Reported and the reported message", f)
			}
			if len(h.srv.done) != 0 || len(h.reboots) != 0 {
				t.Errorf("after an error: done reports %v, reboots %v; want none", h.srv.done, h.reboots)
			}
		})
	}
}

func TestRunTokenRejected(t *testing.T) {
	h := newHarness(t, boot.InstallSpec{})
	h.env.Cmdline = strings.Replace(h.env.Cmdline, h.srv.token, "wrong-token", 1)
	err := Run(testCtx(t), h.env)
	if !errors.Is(err, ErrTokenRejected) {
		t.Fatalf("Run(wrong token) = %v, want ErrTokenRejected", err)
	}
	if !strings.Contains(err.Error(), "invalid or expired token") || !strings.Contains(err.Error(), "task 42") {
		t.Errorf("Run(wrong token) = %q, want the server's message and the task id", err)
	}
	if len(h.srv.auth) != 1 || len(h.clock.slept) != 0 {
		t.Errorf("token rejected: %d requests, %d sleeps; want 1 request and no retry", len(h.srv.auth), len(h.clock.slept))
	}
}

func TestRunRetriesServer(t *testing.T) {
	h := newHarness(t, boot.InstallSpec{})
	h.srv.fail[agentapi.PathTask] = 2
	h.srv.fail[agentapi.PathDone] = 3
	if err := Run(testCtx(t), h.env); err != nil {
		t.Fatalf("Run with a flaky server = %v, want nil", err)
	}
	if len(h.srv.done) != 1 {
		t.Errorf("done reports = %d, want 1", len(h.srv.done))
	}
	want := []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second, 4 * time.Second}
	var retries []time.Duration
	for _, d := range h.clock.slept {
		if d >= time.Second {
			retries = append(retries, d)
		}
	}
	if diff := cmp.Diff(want, retries); diff != "" {
		t.Errorf("retry waits mismatch (-want +got):\n%s", diff)
	}
}

func TestRunServerGone(t *testing.T) {
	h := newHarness(t, boot.InstallSpec{})
	h.srv.fail[agentapi.PathDone] = 1 << 30
	err := Run(testCtx(t), h.env)
	if err == nil || !strings.Contains(err.Error(), "report done") || !strings.Contains(err.Error(), "gave up") {
		t.Fatalf("Run with done refused = %v, want a bounded 'report done' failure", err)
	}
	if len(h.reboots) != 0 {
		t.Errorf("rebooted %v although done was never acknowledged", h.reboots)
	}
	if total := h.clock.Now().Sub(newFakeClock().Now()); total > 2*h.env.ReportRetry {
		t.Errorf("retried for %s, want at most about ReportRetry (%s) per call", total, h.env.ReportRetry)
	}
}

func TestRunNoDisk(t *testing.T) {
	h := newHarness(t, boot.InstallSpec{})
	h.srv.task.Disk = boot.DiskHints{Serial: "NOSUCH"}
	err := Run(testCtx(t), h.env)
	var f *Failure
	if !errors.As(err, &f) || f.Class != agentapi.ClassInternal || !strings.Contains(f.Message, "no target disk") {
		t.Fatalf("Run(no matching disk) = %v, want an internal failure about the disk", err)
	}
	if len(h.srv.failures) != 1 {
		t.Errorf("error reports = %v, want 1", h.srv.failures)
	}
}
