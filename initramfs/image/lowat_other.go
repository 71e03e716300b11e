//go:build !linux

package image

import "net"

// withLowat returns c: waiting for a low-water mark is Linux's SO_RCVLOWAT.
func withLowat(c net.Conn) net.Conn { return c }
