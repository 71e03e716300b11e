package main

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set at build time: go build -ldflags "-X main.version=1.2.3"
// (the Makefile stamps it from git). "dev" for a plain go build.
var version = "dev"

// buildInfo is what `byoi --version` and byoi_build_info say about this
// binary.
type buildInfo struct {
	Version, Revision, GoVersion string
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Revision: "unknown", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				b.Revision = s.Value[:12]
			}
		}
	}
	return b
}

// String is the --version line: "1.2.3 (revision 0123456789ab, go1.26.8)".
func (b buildInfo) String() string {
	return b.Version + " (revision " + b.Revision + ", " + b.GoVersion + ")"
}

// collector is byoi_build_info{version, revision, goversion} = 1, by
// Prometheus's convention for build information.
func (b buildInfo) collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "byoi_build_info",
		Help:        "The byoi binary serving: version, VCS revision and Go version, as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
