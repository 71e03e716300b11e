//go:build !linux

package tftp

import "net"

// batcher would send several packets in one system call; outside Linux
// every packet is a write of its own.
type batcher struct{ max int }

func newBatcher(*net.UDPConn, int) *batcher { return nil }

func (b *batcher) write([]byte) error { return nil }

func refused(error) bool { return false }
