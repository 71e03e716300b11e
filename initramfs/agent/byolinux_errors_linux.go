package agent

import (
	"errors"
	"fmt"
	"strings"

	"github.com/byoi/byoi/initramfs/chroot"
	"github.com/byoi/byoi/initramfs/imagefs"
	"github.com/byoi/byoi/initramfs/preflight"
	"github.com/byoi/byoi/initramfs/storage"
)

// byolinuxFailure words the errors of the BYOLinux packages: the image's
// content, the layout, the script and the loader are the customer's; the
// disks, RAID, LVM, mkfs and mounts are byoi's or the machine's.
func (r *run) byolinuxFailure(err error) error {
	var (
		sf  *stepFailure
		le  *storage.LayoutError
		ce  *storage.CommandError
		ee  *chroot.ExitError
		te  *chroot.TimeoutError
		pfe *preflight.Error
	)
	script := chroot.DefaultScript
	switch {
	case errors.As(err, &sf):
		return err
	case imagefs.IsRefused(err):
		return r.customer(err.Error(), err)
	case errors.As(err, &le):
		return r.customer(le.Msg, err)
	case errors.As(err, &ce):
		return r.internal("Could not prepare the disks: "+ce.Error(), err)
	case errors.Is(err, chroot.ErrNoScript):
		return r.customer(fmt.Sprintf("%s not found in the image: a BYOLinux image must carry this script, which makes the installed system bootable", script), err)
	case errors.Is(err, chroot.ErrNotExecutable):
		return r.customer(strings.Replace(err.Error(), "script not executable", "not executable: a BYOLinux image's script must be executable (chmod 0755)", 1), err)
	case errors.As(err, &ee):
		return r.customer(script+" "+ee.Error(), err)
	case errors.As(err, &te):
		return r.customer(script+" "+te.Error(), err)
	case errors.As(err, &pfe):
		return r.customer("After "+script+": "+strings.Replace(pfe.Error(), "the image's EFI system partition", "the EFI system partition", 1), err)
	}
	return r.internal(err.Error(), err)
}
