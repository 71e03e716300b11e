package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/byoi/byoi/boot/agentapi"
)

// Config is what the kernel command line tells the agent.
type Config struct {
	Server string // base URL of the byoi server, no trailing slash
	// Mode is agentapi.ModeInstall (the default) or agentapi.ModeRescue.
	Mode     string
	TaskID   string // install only
	Token    string // the task's token (install) or this boot's (rescue)
	Poweroff bool   // power off instead of rebooting at the end
	Debug    bool   // rescue shell on fatal errors
	// BootIf is the MAC iPXE booted from (BOOTIF=01-aa-bb-…); nil when absent.
	BootIf net.HardwareAddr
	// Static is the address from ip=…; nil means DHCP.
	Static *StaticIP
	// Modules are loaded in addition to those matching the hardware
	// (byoi.modules=a,b,c).
	Modules []string
}

// ParamModules lists extra kernel modules to load, comma separated.
const ParamModules = "byoi.modules"

// StaticIP is the kernel's ip=<client>:<server>:<gw>:<netmask>:<host>:<dev>:<autoconf>:<dns0>:<dns1>.
type StaticIP struct {
	Addr    netip.Prefix
	Gateway netip.Addr // invalid when none
	DNS     []netip.Addr
	Device  string
}

// ParseConfig reads the agent's parameters from a parsed command line.
func ParseConfig(c Cmdline) (Config, error) {
	var cfg Config
	server, _ := c.Get(agentapi.ParamServer)
	u, err := url.Parse(server)
	if server == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("kernel parameter %s=%q: want the byoi server's http(s) URL", agentapi.ParamServer, server)
	}
	cfg.Server = strings.TrimRight(server, "/")
	cfg.Mode, _ = c.Get(agentapi.ParamMode)
	cfg.TaskID, _ = c.Get(agentapi.ParamTask)
	cfg.Token, _ = c.Get(agentapi.ParamToken)
	switch cfg.Mode {
	case "", agentapi.ModeInstall:
		cfg.Mode = agentapi.ModeInstall
		if cfg.TaskID == "" || cfg.Token == "" {
			return cfg, fmt.Errorf("kernel parameters %s and %s are required (this kernel was not booted by byoi's installer script)",
				agentapi.ParamTask, agentapi.ParamToken)
		}
	case agentapi.ModeRescue:
		if cfg.Token == "" {
			return cfg, fmt.Errorf("kernel parameter %s is required (this kernel was not booted by byoi's rescue script)", agentapi.ParamToken)
		}
	default:
		return cfg, fmt.Errorf("kernel parameter %s=%q: want %s or %s", agentapi.ParamMode, cfg.Mode, agentapi.ModeInstall, agentapi.ModeRescue)
	}
	cfg.Poweroff = c.Flag(agentapi.ParamPoweroff)
	cfg.Debug = c.Flag(agentapi.ParamDebug)
	if v, ok := c.Get(agentapi.ParamBootIf); ok && v != "" {
		if cfg.BootIf, err = ParseBootIf(v); err != nil {
			return cfg, err
		}
	}
	if v, ok := c.Get("ip"); ok {
		if cfg.Static, err = ParseIP(v); err != nil {
			return cfg, err
		}
	}
	if v, ok := c.Get(ParamModules); ok {
		for _, m := range strings.Split(v, ",") {
			if m = strings.TrimSpace(m); m != "" {
				cfg.Modules = append(cfg.Modules, m)
			}
		}
	}
	return cfg, nil
}

// ParseBootIf parses pxelinux's BOOTIF form "01-aa-bb-cc-dd-ee-ff" (ARP
// type 1, Ethernet) and also a plain MAC.
func ParseBootIf(v string) (net.HardwareAddr, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if len(s) == 20 && strings.HasPrefix(s, "01-") {
		s = s[3:]
	}
	hw, err := net.ParseMAC(strings.ReplaceAll(s, "-", ":"))
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("kernel parameter %s=%q: want 01-aa-bb-cc-dd-ee-ff", agentapi.ParamBootIf, v)
	}
	return hw, nil
}

// errDHCP: the ip= value asks for DHCP (or is empty).
var errDHCP = errors.New("dhcp")

// ParseIP parses the kernel's ip= value. "dhcp", "on", "any", "" and
// values without a client address mean DHCP and give nil.
func ParseIP(v string) (*StaticIP, error) {
	s, err := parseIP(v)
	if errors.Is(err, errDHCP) {
		return nil, nil
	}
	return s, err
}

func parseIP(v string) (*StaticIP, error) {
	f := strings.Split(v, ":")
	switch strings.ToLower(f[0]) {
	case "", "dhcp", "on", "any", "bootp", "rarp", "both":
		return nil, errDHCP
	}
	for len(f) < 9 {
		f = append(f, "")
	}
	bad := func(what string) error { return fmt.Errorf("kernel parameter ip=%q: bad %s", v, what) }
	client, err := netip.ParseAddr(f[0])
	if err != nil || !client.Is4() {
		return nil, bad("client address")
	}
	bits := 24
	if f[3] != "" {
		mask, err := netip.ParseAddr(f[3])
		if err != nil || !mask.Is4() {
			return nil, bad("netmask")
		}
		b := mask.As4()
		ones, total := net.IPMask(b[:]).Size()
		if total == 0 {
			return nil, bad("netmask")
		}
		bits = ones
	}
	s := &StaticIP{Addr: netip.PrefixFrom(client, bits), Device: f[5]}
	if f[2] != "" {
		if s.Gateway, err = netip.ParseAddr(f[2]); err != nil || !s.Gateway.Is4() {
			return nil, bad("gateway")
		}
	}
	for _, d := range f[7:9] {
		if d == "" {
			continue
		}
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, bad("DNS server")
		}
		s.DNS = append(s.DNS, a)
	}
	return s, nil
}
