//go:build !race

package http

import (
	"os"
	"testing"
	"time"
)

// Progress-report latency target of the load scenario (issue 7): p99 under
// 50 ms with 200 agents reporting every 100 ms, after 1000 submissions.
const (
	loadP99      = 50 * time.Millisecond
	loadLatencyD = 20 * time.Second
)

// TestLoadLatency runs the load scenario for 20 s of progress reports
// (about 40 000) without the race detector and fails when their p99 is
// 50 ms or more. It is a timing test: `make bench` runs it (it sets
// BYOI_LOAD_LATENCY=1) on a machine quiet enough to judge a p99; elsewhere
// it is skipped, as is every test under -race (this file is not built then).
func TestLoadLatency(t *testing.T) {
	if os.Getenv("BYOI_LOAD_LATENCY") != "1" {
		t.Skip("timing test: set BYOI_LOAD_LATENCY=1 (make bench does)")
	}
	lat := runLoad(t, loadLatencyD)
	ds := lat["progress"]
	if least := int(loadLatencyD/loadPeriod) * loadAgents / 2; len(ds) < least {
		t.Fatalf("%d progress reports, want at least %d (200 agents every 100 ms for %v)", len(ds), least, loadLatencyD)
	}
	if p99 := percentile(ds, 0.99); p99 >= loadP99 {
		t.Errorf("progress p99 = %v over %d reports, want under %v", p99.Round(10*time.Microsecond), len(ds), loadP99)
	}
}
