package agent

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// netConfig is what the installer's NIC gets, from DHCP or from ip=.
type netConfig struct {
	Addr    netip.Prefix
	Gateway netip.Addr
	DNS     []netip.Addr
	Domain  string
}

// pickInterface returns the interface to bring up: the one whose MAC is
// BOOTIF, else the ip= device, else the first Ethernet-like interface by
// index. ok is false when none is there (yet).
func pickInterface(ifaces []net.Interface, cfg Config) (net.Interface, bool) {
	for _, i := range ifaces {
		if cfg.BootIf != nil && strings.EqualFold(i.HardwareAddr.String(), cfg.BootIf.String()) {
			return i, true
		}
	}
	if cfg.BootIf != nil {
		return net.Interface{}, false
	}
	for _, i := range ifaces {
		if cfg.Static != nil && cfg.Static.Device != "" && i.Name == cfg.Static.Device {
			return i, true
		}
	}
	if cfg.Static != nil && cfg.Static.Device != "" {
		return net.Interface{}, false
	}
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback == 0 && len(i.HardwareAddr) == 6 {
			return i, true
		}
	}
	return net.Interface{}, false
}

// resolvConf renders /etc/resolv.conf.
func resolvConf(c netConfig) string {
	var b strings.Builder
	b.WriteString("# written by byoi-agent\n")
	if c.Domain != "" && !strings.ContainsAny(c.Domain, " \t\r\n") {
		fmt.Fprintf(&b, "search %s\n", c.Domain)
	}
	for _, d := range c.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return b.String()
}

// writeResolvConf writes etcDir/resolv.conf.
func writeResolvConf(etcDir string, c netConfig) error {
	if err := os.MkdirAll(etcDir, 0o755); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(etcDir, "resolv.conf"), []byte(resolvConf(c)), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}
