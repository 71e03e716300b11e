package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// P2 compares byoi with the fastest thing a user can type for a raw image:
// a streaming pipeline, curl | [tee >(sha256sum -c)] | DEC -dc | dd
// conv=sparse, from the same HTTP server, nothing staged on disk.
const p2Runs = 3

type p2Case struct {
	spec    imageSpec
	comp    string // none, gzip, zstd, xz
	threads int    // xz: blocks decoded at once by both sides (0: 2)
}

func (c p2Case) name() string {
	n := fmt.Sprintf("raw %s %s %s", sizeName(c.spec.size), density(c.spec), c.comp)
	if c.threads == 1 {
		n += " 1 thread"
	}
	return n + ", sha256"
}

func p2Cases(quick bool) []p2Case {
	dense1, dense512, dense256, sparse1 := imageSpec{1 * gib, true}, imageSpec{512 * mib, true}, imageSpec{256 * mib, true}, imageSpec{1 * gib, false}
	if quick {
		dense1, dense512, dense256, sparse1 = imageSpec{128 * mib, true}, imageSpec{128 * mib, true}, imageSpec{64 * mib, true}, imageSpec{256 * mib, false}
	}
	// gzip and xz on smaller images, as in P1; xz with one thread is P1's.
	return []p2Case{
		{spec: dense1, comp: "none"},
		{spec: dense512, comp: "gzip"},
		{spec: dense1, comp: "zstd"},
		{spec: dense256, comp: "xz"},
		{spec: sparse1, comp: "none"},
		{spec: sparse1, comp: "gzip"},
	}
}

// benchRaw is P2.
func benchRaw(ctx context.Context, c *config, rep *report) error {
	im, srv, tg, err := imageFixture(ctx, c)
	if err != nil {
		return err
	}
	defer srv.close()
	defer tg.close()
	rep.note("P2: the reference streams: curl -sSf URL | tee /dev/fd/3 (fd 3: sha256sum -c) | DEC -dc | dd bs=1M conv=sparse,notrunc,fsync, every process executed directly; byoi verifies sha256 too; %d runs, rotating who goes first, after an untimed warm-up run each on a fresh target, checked; the timed runs write over the target the previous run left (as in P1)", p2Runs)
	rep.note("P2: compressed files made with gzip -1, zstd -3 -T0, xz -1 -T0 (blocks with sizes; xz -T2 -dc against byoi's 2 decoding threads; the one-thread comparison is P1's)")
	for _, pc := range p2Cases(c.quick) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !c.wantCase(pc.name()) {
			continue
		}
		t0 := time.Now()
		if err := p2Run(ctx, rep, im, srv, tg, pc); err != nil {
			return fmt.Errorf("%s: %w", pc.name(), err)
		}
		logf("%s: %.0f s", pc.name(), time.Since(t0).Seconds())
	}
	var dense []float64
	for _, row := range rep.Rows {
		if row.Part == "P2" && row.Case == p2Cases(c.quick)[0].name() {
			dense = append(dense, row.Byoi)
		}
	}
	if len(dense) > 0 {
		hashCost(rep, dense[0], p2Cases(c.quick)[0].spec.size)
	}
	return nil
}

func p2Run(ctx context.Context, rep *report, im images, srv *imageServer, tg *targets, pc p2Case) error {
	raw, err := im.raw(pc.spec)
	if err != nil {
		return err
	}
	file, err := im.file(raw, "raw", pc.comp)
	if err != nil {
		return err
	}
	sum, err := im.sha256(file)
	if err != nil {
		return err
	}
	if im.prepare {
		return nil
	}
	if err := warm(file); err != nil { // the sum may come from an earlier case
		return err
	}
	sums := filepath.Join(tg.dir, "stdin.sums")
	if err := os.WriteFile(sums, []byte(sum+"  -\n"), 0o644); err != nil {
		return err
	}
	var line string
	runs, cpu, err := rotate(p2Runs,
		func(run int) (time.Duration, error) {
			pcase := p1Case{spec: pc.spec, format: "raw", comp: pc.comp, check: true, target: "file", threads: pc.threads}
			d, _, err := p1Byoi(ctx, tg, srv, pcase, file, raw, sum, run == 0)
			return d, err
		},
		func(run int) (_ time.Duration, err error) {
			path, done, err := tg.make(pc.spec.size, "file", run == 0)
			if err != nil {
				return 0, err
			}
			defer cleanup(&err, done)
			stages := p2Pipeline(srv.url(file), sums, pc, path)
			line = pipelineLine(stages...)
			d, err := pipeline(ctx, stages...)
			if err != nil {
				return 0, err
			}
			if run == 0 {
				if err := sameContent(raw, path, pc.spec.size); err != nil {
					return 0, fmt.Errorf("reference %s wrote a wrong image: %w", line, err)
				}
			}
			return d, nil
		})
	if err != nil {
		return err
	}
	goal := 0.95
	if !pc.spec.dense {
		goal = 1.0
	}
	row := Row{Part: "P2", Case: pc.name(), Metric: "s", RefName: "curl|" + pc.comp + "|dd", Target: goal, Command: line,
		Extra: map[string]float64{"byoiMiBps": float64(pc.spec.size) / mib / median(runs[0]),
			"byoiCPUs": median(cpu[0]), "refCPUs": median(cpu[1]), "cpuRatio": median(cpu[1]) / median(cpu[0])}}
	if pc.comp == "none" {
		row.RefName = "curl|dd"
	}
	for i := range runs[0] {
		row.Runs = append(row.Runs, Run{Byoi: runs[0][i], Ref: runs[1][i]})
	}
	rep.add(row)
	return nil
}

// p2Pipeline is the streaming reference: the checksum is checked on a copy
// of the download (sums holds "<sum>  -": sha256sum -c checks its stdin).
func p2Pipeline(url, sums string, pc p2Case, target string) []stage {
	stages := []stage{{args: []string{"curl", "-sSf", url}}, {tee: []string{"sha256sum", "--quiet", "-c", sums}}}
	if pc.comp != "none" {
		dec := []string{pc.comp, "-dc"}
		if pc.comp == "xz" {
			t := pc.threads
			if t == 0 {
				t = 2
			}
			dec = append(dec, fmt.Sprintf("-T%d", t))
		}
		stages = append(stages, stage{args: dec})
	}
	return append(stages, stage{args: []string{"dd", "of=" + target, "bs=1M", "conv=sparse,notrunc,fsync", "status=none"}})
}
