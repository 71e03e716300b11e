package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/byoi/byoi/server/auth"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// serveFlags are the flags of `byoi serve`; every one can also be set by an
// environment variable (BYOI_…) or a key of the YAML file given by --config.
func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "YAML file whose keys are these flag names (unknown keys are refused)", EnvVars: []string{"BYOI_CONFIG"}},
		&cli.BoolFlag{Name: "check", Usage: "check the configuration (flags, environment, --config file, files dir, state dir) and exit"},
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "interface", Usage: "interface(s) to answer DHCP on (default: the only up, non-loopback interface with IPv4)", EnvVars: []string{"BYOI_INTERFACE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "address", Usage: "IPv4 address machines reach this server at (default: the first IPv4 of the first interface)", EnvVars: []string{"BYOI_ADDRESS"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "dhcp-mode", Value: "proxy", Usage: "full (address pool), proxy (beside the lab's DHCP server) or off", EnvVars: []string{"BYOI_DHCP_MODE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "dhcp-pool-start", Usage: "first address of the pool (full mode)", EnvVars: []string{"BYOI_DHCP_POOL_START"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "dhcp-pool-end", Usage: "last address of the pool (full mode)", EnvVars: []string{"BYOI_DHCP_POOL_END"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "dhcp-router", Usage: "router option (full mode)", EnvVars: []string{"BYOI_DHCP_ROUTER"}}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "dhcp-dns", Usage: "DNS server option (full mode)", EnvVars: []string{"BYOI_DHCP_DNS"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "dhcp-lease-time", Value: time.Hour, Usage: "lease time (full mode)", EnvVars: []string{"BYOI_DHCP_LEASE_TIME"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "dhcp-known-only", Usage: "answer DHCP only for registered machines' MACs (machines reaching byoi's HTTP another way are still recorded as discovered)", EnvVars: []string{"BYOI_DHCP_KNOWN_ONLY"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "dhcp-probe-interval", Value: 10 * time.Minute, Usage: "how often to look again for other DHCP/PXE servers on the segment (proxy mode; byoi always looks once at start; 0: only then)", EnvVars: []string{"BYOI_DHCP_PROBE_INTERVAL"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "dhcp-no-probe", Usage: "do not look for other DHCP/PXE servers at start (it takes 4 s)", EnvVars: []string{"BYOI_DHCP_NO_PROBE"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "snponly", Usage: "hand x86-64 UEFI clients snponly.efi instead of ipxe.efi", EnvVars: []string{"BYOI_SNPONLY"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "http-listen", Value: ":8080", Usage: "plain HTTP listen address: iPXE scripts, boot files, the installer's agent API, and the operator APIs unless --api-listen is set", EnvVars: []string{"BYOI_HTTP_LISTEN"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "api-listen", Usage: "HTTPS listen address of the operator APIs (/1.0, /v1, /api/v1, /metrics), e.g. :8443; the plain listener then serves machines only. Needs --tls-cert/--tls-key or --tls-self-signed", EnvVars: []string{"BYOI_API_LISTEN"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tls-cert", Usage: "PEM certificate (chain) of the API listener", EnvVars: []string{"BYOI_TLS_CERT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tls-key", Usage: "PEM private key of the API listener", EnvVars: []string{"BYOI_TLS_KEY"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "tls-self-signed", Usage: "make (once) a self-signed certificate for the API listener in the state dir (" + selfSignedCert + ") and print its fingerprint", EnvVars: []string{"BYOI_TLS_SELF_SIGNED"}}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "tls-name", Usage: "extra DNS name or address the self-signed certificate covers (repeatable; it always covers localhost, loopback, --address and the host name)", EnvVars: []string{"BYOI_TLS_NAME"}}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "trusted-proxy", Usage: "address or CIDR of a reverse proxy whose X-Forwarded-Proto/-Host/-Port/-For are believed (repeatable)", EnvVars: []string{"BYOI_TRUSTED_PROXY"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "datacenter", Value: byoihttp.DefaultDatacenter, Usage: "datacenter the OVH API shows for machines that set none", EnvVars: []string{"BYOI_DATACENTER"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "rack", Usage: "rack the OVH API shows for machines that set none", EnvVars: []string{"BYOI_RACK"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "region", Value: byoihttp.DefaultRegion, Usage: "region the OVH API shows for machines that set none", EnvVars: []string{"BYOI_REGION"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "availability-zone", Value: byoihttp.DefaultAvailabilityZone, Usage: "availability zone the OVH API shows for machines that set none", EnvVars: []string{"BYOI_AVAILABILITY_ZONE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "base-url", Usage: "URL machines use to reach the HTTP server (default: http://ADDRESS:PORT)", EnvVars: []string{"BYOI_BASE_URL"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "tftp-listen", Value: ":69", Usage: "TFTP listen address; empty disables TFTP", EnvVars: []string{"BYOI_TFTP_LISTEN"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "state-dir", Value: "state", Usage: "directory of the bbolt store, server key and admin token", EnvVars: []string{"BYOI_STATE_DIR"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "files-dir", Usage: "iPXE binaries, installer kernel (vmlinuz) and initramfs (initrd.img) (default: boot/ beside the byoi binary)", EnvVars: []string{"BYOI_FILES_DIR"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "installer-timeout", Value: 15 * time.Minute, Usage: "a running installation with no installer report for this long fails (machine or byoi error)", EnvVars: []string{"BYOI_INSTALLER_TIMEOUT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "kernel-args", Usage: "extra installer kernel arguments, e.g. \"console=ttyS0,115200\"", EnvVars: []string{"BYOI_KERNEL_ARGS"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"BYOI_LOG_LEVEL"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json", EnvVars: []string{"BYOI_LOG_FORMAT"}}),
	}
}

func serveCommand() *cli.Command {
	flags := serveFlags()
	return &cli.Command{
		Name:   "serve",
		Usage:  "serve DHCP, TFTP and HTTP (API, iPXE scripts, boot files) in one process",
		Flags:  flags,
		Before: loadConfigFile,
		Action: func(c *cli.Context) error {
			cfg, err := serveConfigFrom(c)
			if err != nil {
				return err
			}
			if c.Bool("check") {
				return checkServe(c.App.Writer, cfg)
			}
			return runServers(c.Context, cfg)
		},
	}
}

// serveConfig is the validated configuration of `byoi serve`.
type serveConfig struct {
	Interfaces        []string
	Address           net.IP
	DHCPMode          string
	PoolStart         net.IP
	PoolEnd           net.IP
	Netmask           net.IPMask
	Router            net.IP
	DNS               []net.IP
	LeaseTime         time.Duration
	SNPOnly           bool
	DHCPKnownOnly     bool
	DHCPNoProbe       bool
	DHCPProbeInterval time.Duration
	HTTPListen        string
	APIListen         string
	APIURL            string // https://ADDRESS:PORT of the API listener, for messages
	TLSCert, TLSKey   string
	TLSSelfSigned     bool
	TLSNames          []string // names the self-signed certificate covers
	TrustedProxies    []netip.Prefix
	Site              byoihttp.Site
	BaseURL           string
	TFTPListen        string
	StateDir          string
	FilesDir          string
	KernelArgs        []string
	InstallerTimeout  time.Duration
	Logger            *slog.Logger
}

func serveConfigFrom(c *cli.Context) (serveConfig, error) {
	cfg := serveConfig{
		Interfaces:        c.StringSlice("interface"),
		DHCPMode:          c.String("dhcp-mode"),
		LeaseTime:         c.Duration("dhcp-lease-time"),
		SNPOnly:           c.Bool("snponly"),
		DHCPKnownOnly:     c.Bool("dhcp-known-only"),
		DHCPNoProbe:       c.Bool("dhcp-no-probe"),
		DHCPProbeInterval: c.Duration("dhcp-probe-interval"),
		HTTPListen:        c.String("http-listen"),
		APIListen:         c.String("api-listen"),
		TLSCert:           c.String("tls-cert"),
		TLSKey:            c.String("tls-key"),
		TLSSelfSigned:     c.Bool("tls-self-signed"),
		Site: byoihttp.Site{
			Datacenter: c.String("datacenter"), Rack: c.String("rack"),
			Region: c.String("region"), AvailabilityZone: c.String("availability-zone"),
		},
		BaseURL:          strings.TrimRight(c.String("base-url"), "/"),
		TFTPListen:       c.String("tftp-listen"),
		StateDir:         c.String("state-dir"),
		FilesDir:         c.String("files-dir"),
		KernelArgs:       strings.Fields(c.String("kernel-args")),
		InstallerTimeout: c.Duration("installer-timeout"),
	}
	if cfg.InstallerTimeout < time.Minute {
		return cfg, fmt.Errorf("--installer-timeout %s: at least 1m (the installer reports every few seconds while it works)", cfg.InstallerTimeout)
	}
	logger, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
	if err != nil {
		return cfg, err
	}
	cfg.Logger = logger
	switch cfg.DHCPMode {
	case "full", "proxy", "off":
	default:
		return cfg, fmt.Errorf("--dhcp-mode %q: use full, proxy or off", cfg.DHCPMode)
	}
	if len(cfg.Interfaces) == 0 {
		name, err := defaultInterface()
		if err != nil {
			return cfg, err
		}
		cfg.Interfaces = []string{name}
	}
	ifAddr, ifNet, err := interfaceIPv4(cfg.Interfaces[0])
	if err != nil {
		return cfg, err
	}
	cfg.Netmask = ifNet.Mask
	if a := c.String("address"); a != "" {
		if cfg.Address = net.ParseIP(a).To4(); cfg.Address == nil {
			return cfg, fmt.Errorf("--address %q is not an IPv4 address", a)
		}
	} else {
		cfg.Address = ifAddr
	}
	for _, p := range []struct {
		flag string
		dst  *net.IP
	}{{"dhcp-pool-start", &cfg.PoolStart}, {"dhcp-pool-end", &cfg.PoolEnd}, {"dhcp-router", &cfg.Router}} {
		if v := c.String(p.flag); v != "" {
			if *p.dst = net.ParseIP(v).To4(); *p.dst == nil {
				return cfg, fmt.Errorf("--%s %q is not an IPv4 address", p.flag, v)
			}
		}
	}
	for _, v := range c.StringSlice("dhcp-dns") {
		ip := net.ParseIP(v).To4()
		if ip == nil {
			return cfg, fmt.Errorf("--dhcp-dns %q is not an IPv4 address", v)
		}
		cfg.DNS = append(cfg.DNS, ip)
	}
	if cfg.DHCPMode == "full" && (cfg.PoolStart == nil || cfg.PoolEnd == nil) {
		return cfg, errors.New("--dhcp-mode full needs --dhcp-pool-start and --dhcp-pool-end (addresses of the interface's subnet no other server hands out)")
	}
	if cfg.BaseURL == "" {
		_, port, err := net.SplitHostPort(cfg.HTTPListen)
		if err != nil {
			return cfg, fmt.Errorf("--http-listen %q: %w", cfg.HTTPListen, err)
		}
		cfg.BaseURL = "http://" + net.JoinHostPort(cfg.Address.String(), port)
	}
	if err := apiConfigFrom(c, &cfg); err != nil {
		return cfg, err
	}
	if cfg.FilesDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return cfg, fmt.Errorf("locating the files dir: %w (set --files-dir)", err)
		}
		cfg.FilesDir = filepath.Join(filepath.Dir(exe), "boot")
	}
	if _, err := os.Stat(cfg.FilesDir); err != nil {
		return cfg, fmt.Errorf("files dir: %w (run `make build`, or set --files-dir)", err)
	}
	return cfg, nil
}

// apiConfigFrom checks the API listener's flags: HTTPS needs a
// certificate, a certificate needs the HTTPS listener.
func apiConfigFrom(c *cli.Context, cfg *serveConfig) error {
	var err error
	if cfg.TrustedProxies, err = auth.ParseTrustedProxies(c.StringSlice("trusted-proxy")); err != nil {
		return fmt.Errorf("--%w", err)
	}
	hasCert := cfg.TLSCert != "" || cfg.TLSKey != ""
	switch {
	case cfg.APIListen == "" && (hasCert || cfg.TLSSelfSigned):
		return errors.New("--tls-cert, --tls-key and --tls-self-signed are for the HTTPS API listener: set --api-listen too (e.g. :8443); firmware needs the plain listener")
	case cfg.APIListen == "":
		return nil
	case hasCert && cfg.TLSSelfSigned:
		return errors.New("--tls-self-signed and --tls-cert/--tls-key: choose one")
	case hasCert && (cfg.TLSCert == "" || cfg.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case !hasCert && !cfg.TLSSelfSigned:
		return errors.New("--api-listen serves HTTPS: give --tls-cert and --tls-key, or --tls-self-signed")
	}
	_, port, err := net.SplitHostPort(cfg.APIListen)
	if err != nil {
		return fmt.Errorf("--api-listen %q: %w", cfg.APIListen, err)
	}
	if cfg.APIListen == cfg.HTTPListen {
		return fmt.Errorf("--api-listen and --http-listen are both %s: use two ports", cfg.APIListen)
	}
	cfg.APIURL = "https://" + net.JoinHostPort(cfg.Address.String(), port)
	cfg.TLSNames = selfSignedNames(cfg.Address, c.StringSlice("tls-name"))
	return nil
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// defaultInterface returns the only up, non-loopback interface with an IPv4
// address, or an error naming the candidates.
func defaultInterface() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	var found []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		if _, _, err := interfaceIPv4(ifc.Name); err == nil {
			found = append(found, ifc.Name)
		}
	}
	switch len(found) {
	case 0:
		return "", errors.New("no up interface with an IPv4 address: set --interface")
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("several interfaces could serve (%s): choose with --interface", strings.Join(found, ", "))
}

func interfaceIPv4(name string) (net.IP, *net.IPNet, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, nil, fmt.Errorf("interface %s: %w", name, err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.To4(), n, nil
		}
	}
	return nil, nil, fmt.Errorf("interface %s has no IPv4 address", name)
}
