//go:build !linux

package netns

import "errors"

// Run is only available on Linux.
func (ns *NS) Run(fn func() error) error {
	return errors.New("netns: network namespaces need linux")
}
