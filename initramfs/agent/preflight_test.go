package agent

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// uefiImage builds with sgdisk, mkfs.fat and mtools a GPT image whose ESP
// holds shim and the removable path, and returns its bytes.
func uefiImage(t *testing.T) []byte {
	t.Helper()
	for _, tool := range []string{"sgdisk", "mkfs.fat", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BYOI_INTEGRATION") == "1" {
				t.Fatalf("precondition failed with BYOI_INTEGRATION=1: %s not installed (scripts/install-deps.sh test)", tool)
			}
			t.Skipf("skipping: %s not installed", tool)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "uefi.img")
	sh := func(name string, args ...string) {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, testImageSize*3); err != nil {
		t.Fatal(err)
	}
	sh("sgdisk", "-o", "-n", "1:2048:18431", "-t", "1:ef00", "-n", "2:18432:22527", "-t", "2:8300", img)
	sh("mkfs.fat", "-F", "16", "-s", "1", "--offset", "2048", img, "8192")
	for _, f := range []string{"EFI/debian/shimx64.efi", "EFI/BOOT/BOOTX64.EFI"} {
		p := filepath.Join(dir, "esp", f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("MZ "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sh("mcopy", "-s", "-Q", "-i", fmt.Sprintf("%s@@%d", img, 1<<20), filepath.Join(dir, "esp", "EFI"), "::/")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunPreflightUEFI: on a UEFI machine the loader pre-flight picks is
// reported in done, a given one is checked, and a missing one fails before
// the disk is touched, with the loaders the ESP holds.
func TestRunPreflightUEFI(t *testing.T) {
	img := uefiImage(t)
	srv := imageServer(t, img)
	for _, tc := range []struct {
		name, given string
		wantLoader  string // in done
		wantFail    *agentapi.Failure
		wantComment string // of the boot setup step
	}{
		{name: "picked", wantLoader: `\EFI\debian\shimx64.efi`,
			wantComment: `Next boot: local disk, UEFI loader \EFI\debian\shimx64.efi (picked from the image's EFI system partition)`},
		{name: "given, other case", given: `\efi\boot\bootx64.efi`, wantLoader: `\EFI\BOOT\BOOTX64.EFI`,
			wantComment: `Next boot: local disk, UEFI loader \EFI\BOOT\BOOTX64.EFI`},
		{name: "given, missing", given: `\efi\debian\grubx64.efi`, wantFail: &agentapi.Failure{Step: boot.StepPreflight, Class: agentapi.ClassCustomer,
			Message: `\efi\debian\grubx64.efi not found on the image's EFI system partition; it has \EFI\debian\shimx64.efi, \EFI\BOOT\BOOTX64.EFI`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, boot.InstallSpec{ImageURL: srv.URL + "/image.raw", EFIBootloaderPath: tc.given})
			if err := os.MkdirAll(filepath.Join(h.env.SysRoot, "firmware", "efi"), 0o755); err != nil {
				t.Fatal(err)
			}
			before := diskSHA256(t, h.diskPath)
			err := Run(testCtx(t), h.env)
			if tc.wantFail != nil {
				if err == nil {
					t.Fatal("Run = nil, want a pre-flight failure")
				}
				if diff := cmp.Diff([]agentapi.Failure{*tc.wantFail}, h.srv.failures); diff != "" {
					t.Errorf("error reports mismatch (-want +got):\n%s", diff)
				}
				if after := diskSHA256(t, h.diskPath); after != before {
					t.Errorf("disk sha256 after a failed pre-flight = %s, want %s (unchanged)", after, before)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			wantDone := []agentapi.Done{{BootMode: boot.BootModeLocal, EFIBootloaderPath: tc.wantLoader, Disk: h.diskPath}}
			if diff := cmp.Diff(wantDone, h.srv.done); diff != "" {
				t.Errorf("done reports mismatch (-want +got):\n%s", diff)
			}
			var pre, setup string
			for _, p := range h.srv.progress {
				if p.Status == boot.StepDone && p.Step == boot.StepPreflight {
					pre = p.Comment
				}
				if p.Status == boot.StepDone && p.Step == boot.StepBootSetup {
					setup = p.Comment
				}
			}
			if !strings.Contains(pre, tc.wantLoader) {
				t.Errorf("pre-flight step comment = %q, want it to name %s", pre, tc.wantLoader)
			}
			if setup != tc.wantComment {
				t.Errorf("boot setup comment = %q, want %q", setup, tc.wantComment)
			}
		})
	}
}

func diskSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// TestRunPreflightOldServer: a task whose step list has no preflight step
// (created by an older server) gets the pre-flight failure on the task as
// a whole, which such a server accepts, instead of an unknown step.
func TestRunPreflightOldServer(t *testing.T) {
	srv := imageServer(t, uefiImage(t))
	h := newHarness(t, boot.InstallSpec{ImageURL: srv.URL + "/image.raw", EFIBootloaderPath: `\efi\debian\grubx64.efi`})
	var old []boot.StepID
	for _, s := range boot.Steps() {
		if s != boot.StepPreflight {
			old = append(old, s)
		}
	}
	h.srv.task.Steps = old
	if err := os.MkdirAll(filepath.Join(h.env.SysRoot, "firmware", "efi"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Run(testCtx(t), h.env); err == nil {
		t.Fatal("Run = nil, want a pre-flight failure")
	}
	want := []agentapi.Failure{{Class: agentapi.ClassCustomer,
		Message: `\efi\debian\grubx64.efi not found on the image's EFI system partition; it has \EFI\debian\shimx64.efi, \EFI\BOOT\BOOTX64.EFI`}}
	if diff := cmp.Diff(want, h.srv.failures); diff != "" {
		t.Errorf("error reports mismatch (-want +got):\n%s", diff)
	}
	for _, p := range h.srv.progress {
		if p.Step == boot.StepPreflight {
			t.Errorf("progress reported for a step the task does not list: %+v", p)
		}
	}
}
