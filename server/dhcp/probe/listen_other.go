//go:build !linux

package probe

import (
	"errors"
	"net"
)

func listen(string) (net.PacketConn, error) {
	return nil, errors.New("binding to an interface needs Linux")
}
