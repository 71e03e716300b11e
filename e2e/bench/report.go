package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Row is one comparison: byoi's figure, the reference tool's, and their
// ratio oriented so that above 1 means byoi is better.
type Row struct {
	Part    string  `json:"part"`
	Case    string  `json:"case"`
	Metric  string  `json:"metric"` // e.g. "seconds", "MiB peak RSS", "clients/s"
	Byoi    float64 `json:"byoi"`
	Ref     float64 `json:"ref,omitempty"`
	RefName string  `json:"refName,omitempty"`
	// Ratio: ref/byoi for costs (seconds, MiB), byoi/ref for rates.
	Ratio float64 `json:"ratio,omitempty"`
	// Target is the ratio (or, without a reference, the absolute limit)
	// the issue asks for; 0 means no target.
	Target float64 `json:"target,omitempty"`
	// TargetAbs says Target applies to Byoi itself (≤ for costs).
	TargetAbs bool               `json:"targetAbsolute,omitempty"`
	Met       *bool              `json:"met,omitempty"`
	Miss      string             `json:"miss,omitempty"` // by how much a target is missed
	Extra     map[string]float64 `json:"extra,omitempty"`
	Note      string             `json:"note,omitempty"`
	Command   string             `json:"command,omitempty"` // the reference command line
	// Failures of byoi in this case; any is a missed target.
	Failures int `json:"failures,omitempty"`
	// Runs, when set, are the case measured several times: Byoi, Ref and
	// Ratio are then the medians, RatioMin and RatioMax the extremes, and
	// a target is met only if every run meets it.
	Runs     []Run   `json:"runs,omitempty"`
	RatioMin float64 `json:"ratioMin,omitempty"`
	RatioMax float64 `json:"ratioMax,omitempty"`
}

// Run is one measurement of a row measured several times.
type Run struct {
	Byoi  float64 `json:"byoi"`
	Ref   float64 `json:"ref,omitempty"`
	Ratio float64 `json:"ratio,omitempty"`
}

// ratioOf orients a ratio so that above 1 means byoi is better.
func ratioOf(metric string, byoi, ref float64) float64 {
	if ref <= 0 || byoi <= 0 {
		return 0
	}
	if costMetric(metric) {
		return ref / byoi
	}
	return byoi / ref
}

// median of vs (the mean of the middle two for an even count).
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// summarize fills the medians and extremes of a row with Runs.
func (row *Row) summarize() {
	var bs, rs, qs []float64
	for i := range row.Runs {
		run := &row.Runs[i]
		run.Ratio = ratioOf(row.Metric, run.Byoi, run.Ref)
		bs, rs = append(bs, run.Byoi), append(rs, run.Ref)
		if run.Ratio > 0 {
			qs = append(qs, run.Ratio)
		}
	}
	row.Byoi, row.Ref = median(bs), median(rs)
	if len(qs) > 0 {
		row.Ratio, row.RatioMin, row.RatioMax = median(qs), slices.Min(qs), slices.Max(qs)
	}
}

// worst is the figure a target is judged on: the worst run, or the only figure.
func (row *Row) worst() (byoi, ratio float64) {
	if len(row.Runs) == 0 {
		return row.Byoi, row.Ratio
	}
	byoi, ratio = row.Runs[0].Byoi, row.RatioMin
	for _, run := range row.Runs {
		if costMetric(row.Metric) {
			byoi = max(byoi, run.Byoi)
		} else {
			byoi = min(byoi, run.Byoi)
		}
	}
	return byoi, ratio
}

// Machine says where the figures come from.
type Machine struct {
	CPU    string `json:"cpu"`
	NProc  int    `json:"nproc"`
	Kernel string `json:"kernel"`
	MemMiB int64  `json:"memMiB"`
	Go     string `json:"go"`
}

type report struct {
	mu           sync.Mutex
	Date         string             `json:"date"`
	Machine      Machine            `json:"machine"`
	Reproduce    []string           `json:"reproduce"`
	Rows         []Row              `json:"rows"`
	Notes        []string           `json:"notes"`
	Errors       []string           `json:"errors,omitempty"`
	PartSeconds  map[string]float64 `json:"partSeconds"`
	TotalSeconds float64            `json:"totalSeconds"`
}

func newReport(c config, start time.Time) *report {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version(), CPU: cpuModel(), MemMiB: memTotalMiB()}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	return &report{
		Date:        start.UTC().Format(time.RFC3339),
		Machine:     m,
		PartSeconds: map[string]float64{},
		Reproduce: []string{
			"make bench",
			"BYOI_ROOT=$PWD go run ./e2e/bench -only P1,P2   # some parts only",
			"BYOI_ROOT=$PWD go run ./e2e/bench -work /var/tmp/byoi-bench -out /tmp/results",
		},
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotalMiB() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			fmt.Sscanf(strings.TrimPrefix(line, "MemTotal:"), "%d", &kb)
		}
	}
	return kb / 1024
}

// add records a row, computing the ratio and the target verdict.
func (r *report) add(row Row) {
	if len(row.Runs) > 0 {
		row.summarize()
	}
	if row.Ref > 0 && row.Byoi > 0 && row.Ratio == 0 {
		row.Ratio = ratioOf(row.Metric, row.Byoi, row.Ref)
	}
	if row.Target > 0 {
		var met bool
		byoi, ratio := row.worst()
		runs := ""
		if len(row.Runs) > 1 {
			runs = fmt.Sprintf(" in the worst of %d runs", len(row.Runs))
		}
		switch {
		case row.TargetAbs:
			met = byoi <= row.Target
			if !met {
				row.Miss = fmt.Sprintf("%.1f over the %.0f limit (+%.0f%%)%s", byoi-row.Target, row.Target, 100*(byoi/row.Target-1), runs)
			}
		case ratio > 0:
			met = ratio >= row.Target
			if !met {
				row.Miss = fmt.Sprintf("%.2f× instead of %.2f× (%.0f%% short)%s", ratio, row.Target, 100*(1-ratio/row.Target), runs)
			}
		}
		if row.Failures > 0 {
			met = false
			row.Miss = strings.TrimPrefix(row.Miss+fmt.Sprintf("; %d failed clients", row.Failures), "; ")
		}
		row.Met = &met
	}
	r.mu.Lock()
	r.Rows = append(r.Rows, row)
	r.mu.Unlock()
	cpu := ""
	if c, ok := row.Extra["cpuRatio"]; ok {
		cpu = fmt.Sprintf("  (CPU %s: byoi %s s, ref %s s)", ratio(c), num(row.Extra["byoiCPUs"]), num(row.Extra["refCPUs"]))
	}
	fmt.Fprintf(os.Stderr, "   %s %-48s byoi %s  %s %s  ratio %s%s\n", row.Part, row.Case, num(row.Byoi), row.RefName, num(row.Ref), ratio(row.Ratio), cpu)
}

func (r *report) note(format string, args ...any) {
	r.mu.Lock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func costMetric(m string) bool {
	return m == "s" || m == "ms" || m == "MiB"
}

func num(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", v)
}

// print writes the table.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%s · %d× %s · %s · %d MiB RAM · %s\n", r.Date, r.Machine.NProc, r.Machine.CPU, r.Machine.Kernel, r.Machine.MemMiB, r.Machine.Go)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "part\tcase\tmetric\tbyoi\treference\tratio\ttarget\tverdict")
	for _, row := range r.Rows {
		target, verdict := "", ""
		if row.Target > 0 {
			if row.TargetAbs {
				target = "≤ " + num(row.Target)
			} else {
				target = "≥ " + ratio(row.Target)
			}
			verdict = "ok"
			if row.Met != nil && !*row.Met {
				verdict = "MISSED: " + row.Miss
			}
		}
		ref := "-"
		if row.Ref > 0 {
			ref = num(row.Ref) + " " + row.RefName
		}
		q := ratio(row.Ratio)
		if len(row.Runs) > 1 && row.Ratio > 0 {
			q += fmt.Sprintf(" (%.2f–%.2f)", row.RatioMin, row.RatioMax)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Part, row.Case, row.Metric, num(row.Byoi), ref, q, target, verdict)
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintln(w, "error:", e)
	}
	fmt.Fprintf(w, "total %.0f s (", r.TotalSeconds)
	for _, p := range []string{"P1", "P2", "P3", "P4", "P5"} {
		if s, ok := r.PartSeconds[p]; ok {
			fmt.Fprintf(w, " %s %.0f s", p, s)
		}
	}
	fmt.Fprintln(w, " )")
	fmt.Fprintln(w, "reproduce:")
	for _, c := range r.Reproduce {
		fmt.Fprintln(w, "  "+c)
	}
}

func (r *report) write(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
