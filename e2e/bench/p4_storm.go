package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// stormRounds is how many times each storm runs per server: a target is
// met only when it holds in every round.
const stormRounds = 3

// benchStorm is P4: a PXE boot storm against byoi and against dnsmasq
// (DHCP + TFTP) with a static HTTP server for the script, then TFTP alone.
func benchStorm(ctx context.Context, c *config, rep *report) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces)")
	}
	dnsmasq, err := exec.LookPath("dnsmasq")
	if err != nil {
		return fmt.Errorf("dnsmasq is not installed: %w", err)
	}
	lab, err := newStormLab(c)
	if err != nil {
		return err
	}
	defer lab.close()
	rep.note("P4: server and clients in two network namespaces joined by a veth pair (%s%s); simulated UEFI x86-64 clients (options 60, 93) share one port-68 socket and fetch ipxe.efi as EDK2's PXE does (blksize 1468, tsize, windowsize 4: PcdPxeTftpWindowSize; a server that ignores windowsize, like dnsmasq 2.90, serves them lock step); DHCP retransmits after 1, 2, 4, 8, 16 s; clients keep their leases, the pool (%s-%s, 198.18.0.0/15 is reserved for benchmarks) is never exhausted; dnsmasq runs with --no-ping (its conflict ping would delay every offer) and --tftp-max=2000 (its default of 50 would refuse most of the storm); both servers log at their default level; each storm runs %d times per server, alternating who goes first; the booted/s and p99 ratios are those of the worst round, the figures the medians; every run's server logs and slowest-client timelines are in %s", stormServer, stormPrefix, poolStart, poolEnd, stormRounds, lab.logs)
	ns := []int{200, 500, 1000} // the targets are for 500 and 1000; BYOI_BENCH_STORM_N=50 for a small one
	if c.quick {
		ns = []int{20, 50}
	}
	if v := os.Getenv("BYOI_BENCH_STORM_N"); v != "" { // e.g. "500,1000": only these storms
		ns = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 65536 {
				return fmt.Errorf("BYOI_BENCH_STORM_N=%q: want client counts like 500,1000", v)
			}
			ns = append(ns, n)
		}
	}
	for _, n := range ns {
		rs, err := lab.rounds(ctx, dnsmasq, fmt.Sprintf("storm-n%d", n), stormRounds,
			"-n", strconv.Itoa(n), "-url", scriptURL, "-size", strconv.FormatInt(lab.size, 10))
		if err != nil {
			return fmt.Errorf("storm of %d: %w", n, err)
		}
		stormRows(rep, n, rs)
	}
	tftpCases := []struct{ blksize, window int }{{512, 1}, {1468, 1}, {1468, 4}, {1468, 16}}
	if os.Getenv("BYOI_BENCH_STORM_N") != "" {
		tftpCases = nil
	}
	for _, tc := range tftpCases {
		rs, err := lab.rounds(ctx, dnsmasq, fmt.Sprintf("tftp-b%d-w%d", tc.blksize, tc.window), 2, "-tftp-only", "-n", "20",
			"-blksize", strconv.Itoa(tc.blksize), "-windowsize", strconv.Itoa(tc.window), "-url", scriptURL, "-size", strconv.FormatInt(lab.size, 10))
		if err != nil {
			return fmt.Errorf("tftp: %w", err)
		}
		b, d := rs.best("byoi"), rs.best("dnsmasq")
		mb := float64(20*lab.size) / mib
		name := fmt.Sprintf("TFTP 20× ipxe.efi, blksize %d", tc.blksize)
		if tc.window > 1 {
			name += fmt.Sprintf(" windowsize %d (granted: byoi %s, dnsmasq %s)", tc.window, granted(b), granted(d))
		}
		rep.add(Row{Part: "P4", Case: fmt.Sprintf("%s (failures: byoi %d, dnsmasq %d)", name, b.Failures, d.Failures),
			Metric: "MiB/s", Byoi: mb / b.Seconds, Ref: mb / d.Seconds, RefName: "dnsmasq", Failures: b.Failures,
			Extra: map[string]float64{"byoiP50": b.P50, "refP50": d.P50}, Note: reasons(b, d)})
	}
	return nil
}

// stormRows reports one storm size: booted/s and p99 with their targets
// judged on the worst round, then medians of p50 and of each phase.
func stormRows(rep *report, n int, rs stormRuns) {
	bs, ds := rs["byoi"], rs["dnsmasq"]
	rate := func(r stormResult) float64 { return r.rate() }
	p99 := func(r stormResult) float64 { return r.P99 }
	var rateRatios, p99Ratios []float64
	bFail, dFail := 0, 0
	for i := range bs {
		rateRatios = append(rateRatios, bs[i].rate()/ds[i].rate())
		p99Ratios = append(p99Ratios, ds[i].P99/bs[i].P99)
		bFail, dFail = max(bFail, bs[i].Failures), max(dFail, ds[i].Failures)
	}
	b, d := bs[len(bs)/2], ds[len(ds)/2] // for the windowsize and reasons
	extra := map[string]float64{"byoiFailuresMax": float64(bFail), "refFailuresMax": float64(dFail)}
	for i := range bs {
		for k, v := range map[string]float64{"byoiRate": bs[i].rate(), "refRate": ds[i].rate(), "byoiP99": bs[i].P99, "refP99": ds[i].P99,
			"byoiP50": bs[i].P50, "refP50": ds[i].P50, "byoiFailures": float64(bs[i].Failures), "refFailures": float64(ds[i].Failures),
			"byoiSeconds": bs[i].Seconds, "refSeconds": ds[i].Seconds, "byoiCPU": bs[i].ServerCPU, "refCPU": ds[i].ServerCPU} {
			extra[fmt.Sprintf("%sRound%d", k, i+1)] = v
		}
	}
	rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d (failures: byoi %d, dnsmasq %d, worst round; windowsize granted: byoi %s, dnsmasq %s; ratio per round %s)",
		n, bFail, dFail, granted(b), granted(d), spread(rateRatios)),
		Metric: "booted/s", Byoi: stormMedian(bs, rate), Ref: stormMedian(ds, rate), RefName: "dnsmasq", Ratio: slices.Min(rateRatios), Target: 1.5,
		Failures: bFail, Extra: extra, Note: reasons(b, d)})
	rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d per-client p99 (ratio per round %s)", n, spread(p99Ratios)), Metric: "s",
		Byoi: stormMedian(bs, p99), Ref: stormMedian(ds, p99), RefName: "dnsmasq", Ratio: slices.Min(p99Ratios), Target: 1})
	cpu := func(r stormResult) float64 { return r.ServerCPU }
	rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d server CPU time (dnsmasq: with the static HTTP server)", n), Metric: "s",
		Byoi: stormMedian(bs, cpu), Ref: stormMedian(ds, cpu), RefName: "dnsmasq"})
	rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d per-client p50", n), Metric: "s",
		Byoi: stormMedian(bs, func(r stormResult) float64 { return r.P50 }), Ref: stormMedian(ds, func(r stormResult) float64 { return r.P50 }), RefName: "dnsmasq"})
	for _, ph := range []struct {
		name string
		f    func(stormResult) float64
	}{{"DHCP DISCOVER→ACK", func(r stormResult) float64 { return r.DHCPP50 }},
		{"TFTP ipxe.efi", func(r stormResult) float64 { return r.TFTPP50 }},
		{"HTTP GET script", func(r stormResult) float64 { return r.HTTPP50 }}} {
		rep.add(Row{Part: "P4", Case: fmt.Sprintf("boot storm N=%d %s p50", n, ph.name), Metric: "s", Byoi: stormMedian(bs, ph.f), Ref: stormMedian(ds, ph.f), RefName: "dnsmasq"})
	}
}

// stormRuns are the results of each server's rounds, in order.
type stormRuns map[string][]stormResult

// rounds runs the storm client with args against byoi and against dnsmasq,
// n times each, alternating who goes first. run names the logs.
func (l *stormLab) rounds(ctx context.Context, dnsmasq, run string, n int, args ...string) (stormRuns, error) {
	rs := stormRuns{}
	for i := range n {
		order := []string{"byoi", "dnsmasq"}
		if i%2 == 1 {
			order = []string{"dnsmasq", "byoi"}
		}
		for _, who := range order {
			r, err := l.storm(ctx, who, dnsmasq, fmt.Sprintf("%s-r%d", run, i+1), args)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", who, err)
			}
			logf("   %s round %d %s: %d clients in %.2f s, %d failed, p50 %.2f s, p99 %.2f s, server CPU %.2f s, load %s", run, i+1, who, r.Clients, r.Seconds, r.Failures, r.P50, r.P99, r.ServerCPU, loadAvg())
			rs[who] = append(rs[who], r)
		}
	}
	return rs, nil
}

// loadAvg is the first three fields of /proc/loadavg, "?" if unreadable.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// best is who's run with the most clients served per second.
func (rs stormRuns) best(who string) stormResult {
	var b stormResult
	for i, r := range rs[who] {
		if i == 0 || r.rate() > b.rate() {
			b = r
		}
	}
	return b
}

// stormMedian of f over the runs.
func stormMedian(rs []stormResult, f func(stormResult) float64) float64 {
	v := make([]float64, 0, len(rs))
	for _, r := range rs {
		v = append(v, f(r))
	}
	return median(v)
}

// spread prints ratios as "1.62/1.80/2.10" (min/median/max).
func spread(v []float64) string {
	s := slices.Clone(v)
	slices.Sort(s)
	return fmt.Sprintf("%.2f/%.2f/%.2f", s[0], s[len(s)/2], s[len(s)-1])
}

// rate is the clients served per second.
func (r stormResult) rate() float64 { return float64(r.Clients-r.Failures) / r.Seconds }

// granted names the windowsizes a run's servers granted, e.g. "4" or "1".
func granted(r stormResult) string {
	var ws []string
	for w := range r.Windows {
		ws = append(ws, strconv.Itoa(w))
	}
	slices.Sort(ws)
	if len(ws) == 0 {
		return "-"
	}
	return strings.Join(ws, "/")
}

func reasons(b, d stormResult) string {
	if len(b.Reasons) == 0 && len(d.Reasons) == 0 {
		return ""
	}
	j, _ := json.Marshal(map[string]any{"byoi": b.Reasons, "dnsmasq": d.Reasons})
	return string(j)
}
