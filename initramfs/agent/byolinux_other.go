//go:build !linux

package agent

import (
	"context"
	"errors"
)

// installBYOLinux needs Linux (NBD, md, LVM, mounts, chroot).
func (r *run) installBYOLinux(context.Context) error {
	return errors.New("BYOLinux installations need Linux")
}
