package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/byoi/byoi/ipxe"
	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/server/dhcp"
	byoihttp "github.com/byoi/byoi/server/http"
	"github.com/byoi/byoi/server/lifecycle"
	"github.com/byoi/byoi/server/powerctl"
	"github.com/byoi/byoi/server/tftp"
	"github.com/byoi/byoi/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"
)

// State directory layout.
const (
	storeFile      = "byoi.db"
	serverKeyFile  = "server.key"
	adminTokenFile = "admin.token"
)

// authAdapter turns the auth package's Authenticate into server/http's
// Authenticator.
type authAdapter struct{ a *auth.Authenticator }

func (x authAdapter) CheckHeaders(r *nethttp.Request) error { return x.a.CheckHeaders(r) }

func (x authAdapter) Authenticate(r *nethttp.Request, body []byte) (byoihttp.Principal, error) {
	c, err := x.a.Authenticate(r, body)
	return byoihttp.Principal{CredentialID: c.ID, Kind: c.Kind, Name: c.Name, Rules: c.Rules, Expires: c.Expires}, err
}

// runServers opens the store and runs DHCP, TFTP and HTTP until ctx ends or
// one of them fails.
func runServers(ctx context.Context, cfg serveConfig) error {
	log := cfg.Logger
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	// A second byoi on the same state dir fails after this timeout, naming
	// the first one's PID.
	st, err := store.Open(filepath.Join(cfg.StateDir, storeFile), store.Options{Logger: log, Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer st.Close()

	keys, err := auth.LoadOrCreateKeyring(filepath.Join(cfg.StateDir, serverKeyFile))
	if err != nil {
		return err
	}
	// The DHCP server, made below, is told when machines change.
	var dhcpChanged atomic.Pointer[func()]
	noop := func() {}
	dhcpChanged.Store(&noop)
	powerCtl := powerctl.New(st, keys, powerctl.Config{Logger: log.With("component", "power")})
	defer powerCtl.Close()
	authn, err := auth.New(st, keys, auth.Options{Logger: log.With("component", "auth"), TrustedProxies: cfg.TrustedProxies,
		Secrets: []auth.SecretSet{powerCtl}})
	if err != nil {
		return err
	}
	tokenPath := filepath.Join(cfg.StateDir, adminTokenFile)
	created, err := auth.Bootstrap(ctx, st, tokenPath)
	if err != nil {
		return err
	}
	if created {
		log.Info("admin token written; the CLI reads it from there", "path", tokenPath)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), currentBuild().collector())

	web, err := byoihttp.New(byoihttp.Config{
		BaseURL:          cfg.BaseURL,
		FilesDir:         cfg.FilesDir,
		ExtraKernelArgs:  cfg.KernelArgs,
		InstallerTimeout: cfg.InstallerTimeout,
		Logger:           log.With("component", "http"),
		Registerer:       reg,
		Auth:             authAdapter{authn},
		Credentials:      authn.Credentials(),
		Keys:             authn.Keys(),
		Site:             cfg.Site,
		APIURL:           cfg.APIURL,
		Power:            powerCtl,
		Network:          bootNetwork(cfg),
		MachinesChanged:  func() { (*dhcpChanged.Load())() },
	}, st)
	if err != nil {
		return err
	}
	// Every port is bound before "serving" is said: a port in use fails
	// here, with nothing started.
	httpLn, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	defer httpLn.Close()
	apiLn, err := apiListener(cfg)
	if err != nil {
		return err
	}
	if apiLn != nil {
		defer apiLn.Close()
	}
	var tftpConn net.PacketConn
	var tf *tftp.Server
	if cfg.TFTPListen != "" {
		if tf, err = tftp.New(tftp.Config{Root: cfg.FilesDir, Logger: log.With("component", "tftp"), Registerer: reg}); err != nil {
			return err
		}
		if tftpConn, err = net.ListenPacket("udp", cfg.TFTPListen); err != nil {
			return fmt.Errorf("tftp: listen %s: %w", cfg.TFTPListen, err)
		}
		defer tftpConn.Close()
	}
	var d *dhcp.Server
	var dhcpConns []net.PacketConn
	if cfg.DHCPMode != "off" {
		d, err = dhcp.New(dhcp.Config{
			Mode:       dhcp.Mode(cfg.DHCPMode),
			Interfaces: cfg.Interfaces,
			ServerIP:   cfg.Address,
			BaseURL:    cfg.BaseURL,
			PoolStart:  cfg.PoolStart,
			PoolEnd:    cfg.PoolEnd,
			Netmask:    cfg.Netmask,
			Router:     cfg.Router,
			DNS:        cfg.DNS,
			LeaseTime:  cfg.LeaseTime,
			IPXE:       ipxe.Options{SNPOnly: cfg.SNPOnly},
			KnownOnly:  cfg.DHCPKnownOnly,
			Logger:     log.With("component", "dhcp"),
			Registerer: reg,
		}, st)
		if err != nil {
			return err
		}
		changed := d.MachinesChanged
		dhcpChanged.Store(&changed)
		// Before byoi's own DHCP is up: who else answers on the segment.
		watch, err := newDHCPWatch(cfg, log.With("component", "dhcp"), reg)
		if err != nil {
			return err
		}
		if !cfg.DHCPNoProbe {
			watch.check(ctx)
			go watch.run(ctx, cfg.DHCPProbeInterval)
		}
		if dhcpConns, err = d.Listen(ctx); err != nil {
			return err
		}
	}
	stopControl, err := serveControl(ctx, cfg.StateDir, st, log.With("component", "control"))
	if err != nil {
		for _, c := range dhcpConns {
			c.Close()
		}
		return err
	}
	defer stopControl()

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if apiLn != nil {
			return web.ServeSplit(ctx, httpLn, apiLn)
		}
		return web.Serve(ctx, httpLn)
	})
	if tf != nil {
		g.Go(func() error { return tf.Serve(ctx, tftpConn) })
	}
	if d != nil {
		g.Go(func() error { return d.ServeConns(ctx, dhcpConns) })
	}
	ui := cfg.BaseURL + "/ui/"
	if cfg.APIURL != "" {
		ui = cfg.APIURL + "/ui/"
	}
	log.Info("byoi serving", "version", version, "interfaces", cfg.Interfaces, "address", cfg.Address.String(),
		"dhcp", cfg.DHCPMode, "dhcp_known_only", cfg.DHCPKnownOnly, "http", httpLn.Addr().String(),
		"api", cmp.Or(cfg.APIURL, "on the http listener"), "base_url", cfg.BaseURL,
		"ui", ui, "tftp", orOff(cfg.TFTPListen), "files", cfg.FilesDir, "state", cfg.StateDir)
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("byoi stopped")
	return nil
}

// apiListener is the HTTPS listener of the operator APIs, nil when they
// stay on the plain listener. It prints the certificate's fingerprint.
func apiListener(cfg serveConfig) (net.Listener, error) {
	if cfg.APIListen == "" {
		return nil, nil
	}
	cert, fp, created, err := apiCertificate(cfg)
	if err != nil {
		return nil, err
	}
	if created {
		cfg.Logger.Info("self-signed API certificate written", "path", filepath.Join(cfg.StateDir, selfSignedCert), "names", cfg.TLSNames)
	}
	cfg.Logger.Info("API served over HTTPS", "url", cfg.APIURL, "certificate_sha256", fp)
	ln, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// Compile-time check that the store satisfies the consumers' interfaces.
var (
	_ dhcp.Store      = (*store.Store)(nil)
	_ auth.Store      = (*store.Store)(nil)
	_ lifecycle.Store = (*store.Store)(nil)
)

// bootNetwork is what byoi's DHCP hands machines, for network_data.json.
func bootNetwork(cfg serveConfig) byoihttp.BootNetwork {
	n := byoihttp.BootNetwork{FullDHCP: cfg.DHCPMode == "full"}
	if ones, _ := cfg.Netmask.Size(); ones > 0 {
		n.Prefix = ones
	}
	if cfg.Router != nil {
		n.Router = cfg.Router.String()
	}
	for _, d := range cfg.DNS {
		n.DNS = append(n.DNS, d.String())
	}
	return n
}
