//go:build linux

package agent

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/chroot"
	"github.com/byoi/byoi/initramfs/image"
	"github.com/byoi/byoi/initramfs/imagefs"
	"github.com/byoi/byoi/initramfs/preflight"
	"github.com/byoi/byoi/initramfs/storage"
)

// Every BYOLinux failure gets its class and words at the step it happened;
// a step the server did not list is left out of the report.
func TestBYOLinuxFailureWording(t *testing.T) {
	r := &run{steps: map[boot.StepID]bool{}}
	for _, s := range boot.StepsFor(boot.OSBYOLinux) {
		r.steps[s] = true
	}
	customer, internal := agentapi.ClassCustomer, agentapi.ClassInternal
	tests := []struct {
		name string
		step boot.StepID
		err  error
		want agentapi.Failure
	}{
		{"refused image", boot.StepInspect, &imagefs.RefusedError{Msg: "image provided has 2 partitions (…)"},
			agentapi.Failure{Step: boot.StepInspect, Class: customer, Message: "image provided has 2 partitions (…)"}},
		{"layout", boot.StepInspect, &storage.LayoutError{Msg: "The layout needs 5001 MiB"},
			agentapi.Failure{Step: boot.StepInspect, Class: customer, Message: "The layout needs 5001 MiB"}},
		{"mdadm", boot.StepPartition, &storage.CommandError{What: "create RAID5 array /dev/md2 (root)", Cmd: "mdadm --create /dev/md2", Output: "mdadm: no", Err: errors.New("exit status 1")},
			agentapi.Failure{Step: boot.StepPartition, Class: internal, Message: "Could not prepare the disks: create RAID5 array /dev/md2 (root): mdadm --create /dev/md2 failed: exit status 1: mdadm: no"}},
		{"no script", boot.StepInspect, fmt.Errorf("%s: %w", chroot.DefaultScript, chroot.ErrNoScript),
			agentapi.Failure{Step: boot.StepInspect, Class: customer, Message: "/root/.ovh/make_image_bootable.sh not found in the image: a BYOLinux image must carry this script, which makes the installed system bootable"}},
		{"script not executable", boot.StepInspect, fmt.Errorf("%s (mode -rw-r--r--): %w", chroot.DefaultScript, chroot.ErrNotExecutable),
			agentapi.Failure{Step: boot.StepInspect, Class: customer, Message: "/root/.ovh/make_image_bootable.sh (mode -rw-r--r--): not executable: a BYOLinux image's script must be executable (chmod 0755)"}},
		{"script exit", boot.StepBootloader, &chroot.ExitError{Code: 2, Tail: []string{"grub-install: error: x"}},
			agentapi.Failure{Step: boot.StepBootloader, Class: customer, Message: "/root/.ovh/make_image_bootable.sh exited with status 2; last lines of its output:\ngrub-install: error: x"}},
		{"script time-out", boot.StepBootloader, &chroot.TimeoutError{After: 1800e9},
			agentapi.Failure{Step: boot.StepBootloader, Class: customer, Message: "/root/.ovh/make_image_bootable.sh did not finish within 30m0s and was killed (no output)"}},
		{"loader", boot.StepBootSetup, &preflight.Error{Kind: preflight.LoaderNotFound, Path: `\efi\x\grubx64.efi`, Loaders: []string{`\EFI\debian\shimx64.efi`}},
			agentapi.Failure{Step: boot.StepBootSetup, Class: customer, Message: `After /root/.ovh/make_image_bootable.sh: \efi\x\grubx64.efi not found on the EFI system partition; it has \EFI\debian\shimx64.efi`}},
		{"image kind", boot.StepVerify, &image.Error{Kind: image.KindChecksumMismatch, Step: boot.StepCheck, ChecksumType: "sha256", Got: "aa", Want: "bb"},
			agentapi.Failure{Step: boot.StepVerify, Class: customer, Message: "Bad sha256 for downloaded file, got: aa while expecting bb."}},
		{"other", boot.StepCopy, errors.New("boom"), agentapi.Failure{Step: boot.StepCopy, Class: internal, Message: "boom"}},
		{"unknown step", "elsewhere", errors.New("boom"), agentapi.Failure{Step: "", Class: internal, Message: "boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.step = tt.step
			err := r.byolinuxFailure(tt.err)
			if tt.name == "image kind" {
				err = r.imageFailure(tt.err)
			}
			if diff := cmp.Diff(tt.want, failure("ignored", err)); diff != "" {
				t.Errorf("failure(%v) (-want +got):\n%s", tt.err, diff)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("the worded failure does not wrap %v", tt.err)
			}
		})
	}
}
