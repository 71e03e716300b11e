package tftp

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Transfer outcomes, the values of the outcome label.
const (
	outcomeOK        = "ok"
	outcomeNotFound  = "not_found"
	outcomeRefused   = "refused"   // bad name, outside the root, not a file, write request
	outcomeFailed    = "failed"    // started, then the client went away or timed out
	outcomeMalformed = "malformed" // a packet that is not a valid request
	outcomeBusy      = "busy"      // dropped: MaxTransfers in progress
	outcomeProbe     = "probe"     // the client read the OACK (e.g. tsize) and ended it, as UEFI PXE does first
)

type metrics struct {
	transfers *prometheus.CounterVec
	bytes     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "byoi_tftp_transfers_total",
			Help: "TFTP requests by outcome.",
		}, []string{"outcome"}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "byoi_tftp_bytes_total",
			Help: "Bytes of file data sent over TFTP.",
		}),
	}
	for _, o := range []string{outcomeOK, outcomeNotFound, outcomeRefused, outcomeFailed, outcomeMalformed, outcomeBusy, outcomeProbe} {
		m.transfers.WithLabelValues(o)
	}
	if reg == nil {
		return m, nil
	}
	for i, c := range []prometheus.Collector{m.transfers, m.bytes} {
		if err := reg.Register(c); err != nil {
			if i > 0 {
				reg.Unregister(m.transfers)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("tftp: metrics already registered (one Server per registry): %w", err)
			}
			return nil, fmt.Errorf("tftp: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) transfer(outcome string) { m.transfers.WithLabelValues(outcome).Inc() }
