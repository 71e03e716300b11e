package dhcp

import (
	"context"
	"errors"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/byoi/byoi/boot"
)

// brokenStore fails every lookup, as a store whose file went bad.
type brokenStore struct{ *memStore }

func (brokenStore) MachineByMAC(context.Context, string) (boot.Machine, error) {
	return boot.Machine{}, errors.New("disk on fire")
}

// TestKnownOnly: with KnownOnly, a registered machine is answered in both
// modes and on both ports, an unknown or merely discovered MAC is not, and
// a store that fails is an error (logged loudly), not "unknown".
func TestKnownOnly(t *testing.T) {
	st := newMemStore(
		boot.Machine{Name: "rack1-07", MACs: []string{mac(7).String()}},
		boot.Machine{Name: "discovered-525400123408", MACs: []string{mac(8).String()}, Discovered: true},
	)
	for _, mode := range []Mode{ModeProxy, ModeFull} {
		cfg := testConfig(mode)
		cfg.KnownOnly = true
		s := newTestServer(t, cfg, st)
		for _, tc := range []struct {
			name   string
			hw     byte
			port   int
			answer bool
		}{
			{"registered", 7, PortDHCP, true},
			{"registered, PXE port", 7, PortPXE, true},
			{"unknown", 9, PortDHCP, false},
			{"discovered", 8, PortDHCP, false},
			{"discovered, PXE port", 8, PortPXE, false},
		} {
			typ := dhcpv4.MessageTypeDiscover
			if tc.port == PortPXE {
				typ = dhcpv4.MessageTypeRequest
			}
			req := packet(t, typ, mac(tc.hw), pxeOpts("PXEClient:Arch:00007:UNDI:003001", 7)...)
			got, err := s.Reply(context.Background(), req, tc.port)
			if err != nil || (got != nil) != tc.answer {
				t.Errorf("%s mode, %s: Reply = %v, %v; want an answer: %v", mode, tc.name, got != nil, err, tc.answer)
			}
		}
	}
	cfg := testConfig(ModeProxy)
	cfg.KnownOnly = true
	s := newTestServer(t, cfg, brokenStore{st})
	req := packet(t, dhcpv4.MessageTypeDiscover, mac(7), pxeOpts("PXEClient:Arch:00007:UNDI:003001", 7)...)
	if got, err := s.Reply(context.Background(), req, PortDHCP); err == nil || got != nil {
		t.Errorf("Reply with a broken store = %v, %v; want an error and no answer", got, err)
	}
	cfg.KnownOnly = true
	if _, err := New(cfg, nil); err == nil {
		t.Error("New(KnownOnly, no store) = nil error")
	}
	// Without KnownOnly an unknown PXE client is answered (proxy mode).
	s = newTestServer(t, testConfig(ModeProxy), st)
	if got, err := s.Reply(context.Background(), packet(t, dhcpv4.MessageTypeDiscover, mac(9), pxeOpts("PXEClient:Arch:00007:UNDI:003001", 7)...), PortDHCP); err != nil || got == nil {
		t.Errorf("Reply to an unknown MAC without KnownOnly = %v, %v; want an answer", got, err)
	}
}
