package dhcp

import (
	"context"
	"fmt"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// eventAppender is the optional part of the store that keeps each machine's
// history; when the store has it, every boot-file answer to a registered
// machine is recorded, so `byoi machines show` tells where a machine stopped
// (no DHCP answer, firmware stage, iPXE stage).
type eventAppender interface {
	AppendEvent(ctx context.Context, e boot.Event) (boot.Event, error)
}

// recordBoot appends a "dhcp" event for a boot answer to a known machine.
// Unknown MACs are recorded by the HTTP side when iPXE asks for its script;
// a store failure here is logged, never fatal to the answer.
func (s *Server) recordBoot(ctx context.Context, req, reply *dhcpv4.DHCPv4, client boot.Client, port int) {
	ev, ok := s.store.(eventAppender)
	// One event per exchange: the ACK in full mode (not the OFFER before
	// it); in proxy mode the OFFER is often all a client gets from us.
	if !ok || reply.BootFileName == "" ||
		(reply.MessageType() != dhcpv4.MessageTypeAck && s.cfg.Mode != ModeProxy) {
		return
	}
	mac := req.ClientHWAddr.String()
	name, err := s.machineName(ctx, mac)
	if err != nil {
		s.log.Error("dhcp: machine lookup for the timeline", "mac", mac, "err", err)
		return
	}
	if name == "" {
		return
	}
	msg := fmt.Sprintf("DHCP %s (port %d) to a %s client: boot file %s",
		msgLabel(reply.MessageType()), port, describe(client), reply.BootFileName)
	if _, err := ev.AppendEvent(ctx, boot.Event{Time: time.Now(), Machine: name, Kind: boot.EventDHCP, Message: msg}); err != nil {
		s.log.Error("dhcp: appending event", "machine", name, "err", err)
	}
}
