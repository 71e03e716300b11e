package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"

	"github.com/byoi/byoi/ipxe"
	"github.com/byoi/byoi/server/auth"
	"github.com/byoi/byoi/server/dhcp"
	byoihttp "github.com/byoi/byoi/server/http"
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

// authAdapter turns the auth package's Check into server/http's Authenticator.
type authAdapter struct{ a *auth.Authenticator }

func (x authAdapter) Authenticate(r *nethttp.Request, body []byte) (byoihttp.Principal, error) {
	id, kind, err := x.a.Check(r, body)
	return byoihttp.Principal{CredentialID: id, Kind: kind}, err
}

// runServers opens the store and runs DHCP, TFTP and HTTP until ctx ends or
// one of them fails.
func runServers(ctx context.Context, cfg serveConfig) error {
	log := cfg.Logger
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	st, err := store.Open(filepath.Join(cfg.StateDir, storeFile), store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()

	key, err := auth.LoadOrCreateKey(filepath.Join(cfg.StateDir, serverKeyFile))
	if err != nil {
		return err
	}
	authn, err := auth.New(st, key, auth.Options{Logger: log.With("component", "auth")})
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
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	web, err := byoihttp.New(byoihttp.Config{
		BaseURL:          cfg.BaseURL,
		FilesDir:         cfg.FilesDir,
		ExtraKernelArgs:  cfg.KernelArgs,
		InstallerTimeout: cfg.InstallerTimeout,
		Logger:           log.With("component", "http"),
		Registerer:       reg,
		Auth:             authAdapter{authn},
		Credentials:      authn.Credentials(),
	}, st)
	if err != nil {
		return err
	}
	httpLn, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return web.Serve(ctx, httpLn) })

	if cfg.TFTPListen != "" {
		tf, err := tftp.New(tftp.Config{Root: cfg.FilesDir, Logger: log.With("component", "tftp"), Registerer: reg})
		if err != nil {
			return err
		}
		g.Go(func() error { return tf.ListenAndServe(ctx, cfg.TFTPListen) })
	}
	if cfg.DHCPMode != "off" {
		d, err := dhcp.New(dhcp.Config{
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
			Logger:     log.With("component", "dhcp"),
			Registerer: reg,
		}, st)
		if err != nil {
			return err
		}
		g.Go(func() error { return d.ListenAndServe(ctx) })
	}
	log.Info("byoi serving", "interfaces", cfg.Interfaces, "address", cfg.Address.String(),
		"dhcp", cfg.DHCPMode, "http", cfg.HTTPListen, "base_url", cfg.BaseURL, "tftp", cfg.TFTPListen,
		"files", cfg.FilesDir, "state", cfg.StateDir)
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("byoi stopped")
	return nil
}

// Compile-time check that the store satisfies the consumers' interfaces.
var (
	_ dhcp.Store = (*store.Store)(nil)
	_ auth.Store = (*store.Store)(nil)
)
