package agent

import (
	"errors"
	"os"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/image"
)

// TestRunDiskNotWritable: a disk the installer cannot open for writing is
// reported with OVH's "Can't write <type> on disk", at the write step, as
// byoi's error (ovhError), and the machine does not reboot into it.
func TestRunDiskNotWritable(t *testing.T) {
	for _, imageType := range []string{"raw", "qcow2"} {
		t.Run(imageType, func(t *testing.T) {
			h := newHarness(t, boot.InstallSpec{ImageType: imageType})
			// A directory where the disk node was: open(O_RDWR) fails.
			if err := os.Remove(h.diskPath); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(h.diskPath, 0o755); err != nil {
				t.Fatal(err)
			}
			err := Run(testCtx(t), h.env)
			var ie *image.Error
			if !errors.As(err, &ie) {
				t.Fatalf("Run = %v, want an *image.Error", err)
			}
			if len(h.srv.failures) != 1 {
				t.Fatalf("error reports = %+v, want one", h.srv.failures)
			}
			want := agentapi.Failure{Step: boot.StepWrite, Class: agentapi.ClassInternal, Message: "Can't write " + imageType + " on disk"}
			if got := h.srv.failures[0]; got != want {
				t.Errorf("error report = %+v, want %+v", got, want)
			}
			if len(h.srv.done) != 0 || len(h.reboots) != 0 {
				t.Errorf("after a write failure: done reports %v, reboots %v; want none", h.srv.done, h.reboots)
			}
		})
	}
}
