//go:build !linux

package rescue

import (
	"context"
	"errors"
)

// Serve runs sshd; the rescue system runs on Linux only.
func (s System) Serve(ctx context.Context, ready func(pid int)) error {
	return errors.New("rescue: sshd runs on Linux only")
}
