package http

import (
	"context"
	"fmt"
	nethttp "net/http"
	"strconv"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/store"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type metrics struct {
	gatherer        prometheus.Gatherer
	requests        *prometheus.CounterVec
	installDuration *prometheus.HistogramVec
	bytesWritten    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, st *store.Store) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "byoi_http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		installDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "byoi_install_duration_seconds",
			Help:    "Time from the installer's start to the end of its task, by final status.",
			Buckets: []float64{30, 60, 120, 300, 600, 900, 1200, 1800, 3600},
		}, []string{"status"}),
		bytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "byoi_install_written_bytes_total",
			Help: "Image bytes the installers reported written to disk.",
		}),
	}
	cs := []prometheus.Collector{m.requests, m.installDuration, m.bytesWritten, &taskCollector{st: st}}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	}
	return m, nil
}

func (m *metrics) handler() nethttp.Handler {
	if m.gatherer == nil {
		return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
			writeError(w, nethttp.StatusNotFound, "Metrics are exported through the configured registerer")
		})
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	nethttp.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = nethttp.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() nethttp.ResponseWriter { return r.ResponseWriter }

func (m *metrics) count(route string, next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = nethttp.StatusOK
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.code)).Inc()
	})
}

// middleware counts matched routes by their template, so that machine
// names and task IDs never become label values.
func (m *metrics) middleware(next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		route := "unknown"
		if cr := mux.CurrentRoute(r); cr != nil {
			if t, err := cr.GetPathTemplate(); err == nil {
				route = t
			}
		}
		m.count(route, next).ServeHTTP(w, r)
	})
}

func (m *metrics) wrapUnmatched(h nethttp.Handler) nethttp.Handler { return m.count("unmatched", h) }

// observeDuration records a finished task's install time, from its
// installer's start (tasks that never started are not counted).
func (m *metrics) observeDuration(t boot.Task) {
	if t.InstallerStarted.IsZero() || t.DoneDate.Before(t.InstallerStarted) {
		return
	}
	m.installDuration.WithLabelValues(string(t.Status)).Observe(t.DoneDate.Sub(t.InstallerStarted).Seconds())
}

// taskCollector reports the number of tasks by status, read from the store
// at each scrape.
type taskCollector struct{ st *store.Store }

var tasksDesc = prometheus.NewDesc("byoi_tasks", "Stored installation tasks by status.", []string{"status"}, nil)

var allStatuses = []boot.Status{
	boot.StatusInit, boot.StatusTodo, boot.StatusDoing, boot.StatusDone,
	boot.StatusCancelled, boot.StatusCustomerError, boot.StatusOVHError,
}

func (c *taskCollector) Describe(ch chan<- *prometheus.Desc) { ch <- tasksDesc }

func (c *taskCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.st.TaskStatusCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(tasksDesc, err)
		return
	}
	for _, st := range allStatuses {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}

// droppedCollector reports what byoi refused to keep from the boot
// network: discovered machines deleted over the store's cap, events pruned
// from the front of a machine's history, unknown MACs not recorded because
// their source exceeded the discovery rate.
type droppedCollector struct {
	st *store.Store
	lc func() uint64
}

var droppedDesc = prometheus.NewDesc("byoi_dropped_total", "Records byoi did not keep to bound what the boot network can make it store, by kind.", []string{"kind"}, nil)

func (c *droppedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- droppedDesc }

func (c *droppedCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.st.Dropped()
	for kind, n := range map[string]uint64{"discovered_machines": d.DiscoveredMachines, "events": d.Events, "discovery_rate": c.lc()} {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), kind)
	}
}
