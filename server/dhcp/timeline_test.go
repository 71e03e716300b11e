package dhcp

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// TestTimeline: a boot-file ACK to a registered machine lands in its
// history (the OFFER before it does not); an unknown MAC and a plain DHCP client leave no event.
func TestTimeline(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "byoi.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	known := mac(1)
	if _, err := st.CreateMachine(ctx, boot.Machine{Name: "rack1", MACs: []string{known.String()}}); err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, testConfig(ModeFull), st)
	peer := &net.UDPAddr{IP: net.IPv4zero, Port: 68}
	for _, p := range []*dhcpv4.DHCPv4{
		packet(t, dhcpv4.MessageTypeDiscover, known, pxeOpts(vcOVMF, boot.ArchTypeEFIX64)...), // OFFER: not recorded
		packet(t, dhcpv4.MessageTypeInform, known, pxeOpts(vcOVMF, boot.ArchTypeEFIX64)...),   // ACK: recorded
		packet(t, dhcpv4.MessageTypeDiscover, mac(2), pxeOpts(vcOVMF, boot.ArchTypeEFIX64)...),
		packet(t, dhcpv4.MessageTypeDiscover, known),
	} {
		if reply, _ := s.handle(ctx, p.ToBytes(), peer, PortDHCP); reply == nil {
			t.Fatalf("handle(%s) = no reply", p.ClientHWAddr)
		}
	}
	evs, err := st.Events(ctx, "rack1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != boot.EventDHCP || !strings.Contains(evs[0].Message, "boot file ipxe.efi") {
		t.Fatalf("Events(rack1) = %+v, want one dhcp event naming ipxe.efi", evs)
	}
	all, err := st.Machines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Errorf("Machines() = %d machines, want only rack1 (DHCP records no discovered machines)", len(all))
	}
}
