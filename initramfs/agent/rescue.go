package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/rescue"
)

// SSHServer is what the rescue mode drives: the SSH side of the rescue
// system (initramfs/rescue.System is the real one).
type SSHServer interface {
	// Prepare installs the keys for root and writes the server's
	// configuration.
	Prepare(machine string, keys []string) error
	// HostKeys makes the host keys if needed and returns them.
	HostKeys(ctx context.Context) ([]rescue.HostKey, error)
	// Serve runs the server until ctx ends, restarting it when it exits;
	// ready is called each time it accepts connections.
	Serve(ctx context.Context, ready func(pid int)) error
}

// runRescue is the rescue mode: prepare the machine as the installer does
// (kernel modules, network), fetch the SSH keys, start sshd, say where to
// log in on the console and to the server, then keep sshd running. It
// returns only when sshd cannot run (or ctx ends); it never reboots.
func runRescue(ctx context.Context, env Env, cfg Config) error {
	log := env.Logger.With("mode", agentapi.ModeRescue)
	client := env.Client
	if client == nil {
		client = http.DefaultClient
	}
	a := &api{cfg: cfg, client: client, clock: env.Clock, log: log, retryFor: env.ReportRetry, attemptTimeout: 30 * time.Second}
	if env.Prepare != nil {
		if err := env.Prepare(ctx, cfg); err != nil {
			return fmt.Errorf("prepare the machine: %w", err)
		}
	}
	log.Info("fetching the rescue configuration", "server", cfg.Server)
	rc, err := a.Rescue(ctx)
	if err != nil {
		return fmt.Errorf("fetch the rescue configuration from %s: %w", cfg.Server, err)
	}
	log = log.With("machine", rc.Machine)
	if len(rc.SSHKeys) == 0 {
		fmt.Fprintln(env.Console, "rescue: WARNING: byoi gave no SSH key for this machine: nobody can log in")
	}
	if err := env.SSH.Prepare(rc.Machine, rc.SSHKeys); err != nil {
		return err
	}
	keys, err := env.SSH.HostKeys(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- env.SSH.Serve(ctx, func(int) { once.Do(func() { close(ready) }) })
	}()
	select {
	case <-ready:
	case err := <-served:
		return fmt.Errorf("start sshd: %w", err)
	}
	addrs, err := env.Addresses(cfg)
	if err != nil {
		log.Warn("cannot list this machine's addresses", "err", err)
	}
	announce(env, addrs, keys)
	go func() {
		r := agentapi.RescueReady{Addresses: addrs}
		for _, k := range keys {
			r.HostKeys = append(r.HostKeys, k.String())
			r.HostPublicKeys = append(r.HostPublicKeys, k.Public)
		}
		if err := a.RescueReady(ctx, r); err != nil {
			log.Error("could not tell the byoi server the rescue system is ready", "err", err)
			return
		}
		log.Info("rescue system ready", "addresses", strings.Join(addrs, " "))
	}()
	return <-served
}

// announce prints where to log in on the console.
func announce(env Env, addrs []string, keys []rescue.HostKey) {
	fp := "unknown"
	if len(keys) > 0 {
		fp = keys[0].Fingerprint
	}
	if len(addrs) == 0 {
		fmt.Fprintf(env.Console, "rescue: sshd runs, but this machine has no address (host key %s)\n", fp)
	}
	for _, a := range addrs {
		fmt.Fprintf(env.Console, "rescue: ssh root@%s (host key %s)\n", a, fp)
	}
	var all []string
	for _, k := range keys {
		all = append(all, k.String())
	}
	fmt.Fprintf(env.Console, "rescue: host keys: %s\n", strings.Join(all, ", "))
}

// interfaceAddresses lists the global unicast addresses of the machine's
// up interfaces: the boot interface's first, IPv4 before IPv6.
func interfaceAddresses(cfg Config) ([]string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var boot, v4, v6 []string
	var errs []error
	for _, i := range ifaces {
		if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := i.Addrs()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", i.Name, err))
			continue
		}
		isBoot := cfg.BootIf != nil && strings.EqualFold(i.HardwareAddr.String(), cfg.BootIf.String())
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			switch {
			case isBoot && ipn.IP.To4() != nil:
				boot = append([]string{ipn.IP.String()}, boot...)
			case isBoot:
				boot = append(boot, ipn.IP.String())
			case ipn.IP.To4() != nil:
				v4 = append(v4, ipn.IP.String())
			default:
				v6 = append(v6, ipn.IP.String())
			}
		}
	}
	return append(append(boot, v4...), v6...), errors.Join(errs...)
}
