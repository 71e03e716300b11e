//go:build !linux

package dhcp

import (
	"context"
	"errors"
)

// ListenAndServe binds per interface, which byoi supports on Linux only.
// Elsewhere, use Serve with a socket of your own.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if s.cfg.Mode == ModeOff {
		return nil
	}
	return errors.New("dhcp: binding to interfaces needs linux; use Serve")
}
