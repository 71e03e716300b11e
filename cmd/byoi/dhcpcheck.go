package main

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/byoi/byoi/server/dhcp/probe"
	"github.com/prometheus/client_golang/prometheus"
)

// dhcpWatch looks for other DHCP and PXE servers on byoi's interfaces
// (server/dhcp/probe), logs what it finds and keeps it in
// byoi_dhcp_other_servers{interface, kind}: kind "dhcp" counts servers
// handing out addresses, "pxe" servers that would send a PXE client to
// boot something (a proxyDHCP, or a DHCP server with a boot file).
type dhcpWatch struct {
	mode       string
	interfaces []string
	self       net.IP
	log        *slog.Logger
	gauge      *prometheus.GaugeVec
}

func newDHCPWatch(cfg serveConfig, log *slog.Logger, reg prometheus.Registerer) (*dhcpWatch, error) {
	w := &dhcpWatch{mode: cfg.DHCPMode, interfaces: cfg.Interfaces, self: cfg.Address, log: log,
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "byoi_dhcp_other_servers",
			Help: "Other servers that answered byoi's DHCP probe on an interface, by kind: dhcp (hands out addresses), pxe (sends PXE clients to boot something).",
		}, []string{"interface", "kind"})}
	return w, reg.Register(w.gauge)
}

// check probes every interface at once and reports.
func (w *dhcpWatch) check(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ifname := range w.interfaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found, err := probe.Run(ctx, probe.Config{Interface: ifname, Ignore: []net.IP{w.self}})
			if err != nil {
				w.log.Warn("dhcp probe failed: other DHCP servers on this segment are not known", "interface", ifname, "err", err)
				return
			}
			w.report(ifname, found)
		}()
	}
	wg.Wait()
}

func (w *dhcpWatch) report(ifname string, found []probe.Server) {
	var dhcp, pxe float64
	for _, s := range found {
		if s.Kind == probe.KindDHCP {
			dhcp++
		}
		if s.PXE() {
			pxe++
		}
		attrs := []any{"interface", ifname, "server", s.IP.String(), "kind", s.Kind, "boot_file", s.BootFile}
		switch {
		case s.PXE():
			w.log.Warn("another server answers PXE clients on this segment: machines may boot what it offers instead of byoi (stop it, or run byoi with --dhcp-known-only and keep them apart)", attrs...)
		case w.mode == "full":
			w.log.Warn("another DHCP server hands out addresses on this segment while byoi runs in full mode: clients may take its offer (use --dhcp-mode proxy beside it)", attrs...)
		default:
			w.log.Info("the segment's DHCP server (byoi answers PXE clients beside it)", attrs...)
		}
	}
	w.gauge.WithLabelValues(ifname, "dhcp").Set(dhcp)
	w.gauge.WithLabelValues(ifname, "pxe").Set(pxe)
}

// run probes again every interval until ctx ends. Only in proxy mode: in
// full mode byoi's own server would keep an address for each probe's
// made-up MAC.
func (w *dhcpWatch) run(ctx context.Context, every time.Duration) {
	if every <= 0 || w.mode != "proxy" {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(ctx)
		}
	}
}
