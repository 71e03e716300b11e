package main

import (
	"context"
	"fmt"
	"time"

	"github.com/byoi/byoi/initramfs/image"
)

// p1Specs are the qcow2 images of P1 (4 GiB dense is left out: generating
// and compressing it alone would take a third of the time budget).
func p1Specs(quick bool) []imageSpec {
	if quick {
		return []imageSpec{{256 * mib, true}, {1 * gib, false}}
	}
	return []imageSpec{{1 * gib, true}, {1 * gib, false}, {4 * gib, false}}
}

// benchQcow2 is P1: qcow2 → target, byoi (over HTTP from 127.0.0.1) against
// `qemu-img convert -n -O raw` (from the local file) followed by an fsync.
func benchQcow2(ctx context.Context, c *config, rep *report) error {
	im, srv, tg, err := imageFixture(c)
	if err != nil {
		return err
	}
	defer srv.close()
	defer tg.close()
	rep.note("P1: byoi downloads the qcow2 over HTTP from 127.0.0.1 (its real pipeline); qemu-img reads the local file; both write a fresh sparse file on tmpfs (or a loop device over one) and end with fsync")
	rep.note("P1: 4 GiB images are sparse (one MiB in eight holds data); dense images are 1 GiB, to stay within the 15-minute budget")
	for _, s := range p1Specs(c.quick) {
		raw, err := im.raw(s)
		if err != nil {
			return err
		}
		for _, comp := range []string{"none", "zlib", "zstd"} {
			q, err := im.qcow2(raw, comp)
			if err != nil {
				return err
			}
			kinds := []string{"file"}
			if comp == "none" && canLoop() {
				kinds = append(kinds, "loop")
			}
			for _, kind := range kinds {
				if err := p1Case(ctx, rep, tg, srv, s, raw, q, comp, kind); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func p1Case(ctx context.Context, rep *report, tg *targets, srv *fileServer, s imageSpec, raw, q, comp, kind string) error {
	verified := false
	var res image.Result
	target := func() (string, func(), error) {
		if kind == "loop" {
			return tg.loop(s.size)
		}
		p, err := tg.file(s.size)
		return p, func() {}, err
	}
	byoi := func() (time.Duration, error) {
		p, done, err := target()
		if err != nil {
			return 0, err
		}
		defer done()
		d, r, err := byoiInstall(ctx, image.Options{URL: srv.url(q), Type: "qcow2"}, p)
		if err != nil {
			return 0, fmt.Errorf("byoi install %s: %w", q, err)
		}
		res = r
		if !verified {
			if err := sameContent(raw, p, s.size); err != nil {
				return 0, fmt.Errorf("byoi wrote a wrong image: %w", err)
			}
			verified = true
		}
		return d, nil
	}
	var line string
	qemu := func() (time.Duration, error) {
		p, done, err := target()
		if err != nil {
			return 0, err
		}
		defer done()
		line = fmt.Sprintf("qemu-img convert -n -f qcow2 -O raw %s %s && sync %s", q, p, p)
		t0 := time.Now()
		if _, err := shell(ctx, fmt.Sprintf("qemu-img convert -n -f qcow2 -O raw '%s' '%s'", q, p)); err != nil {
			return 0, err
		}
		if err := fsync(p); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	reps := 2
	if s.size > 2*gib && s.dense {
		reps = 1
	}
	tb, tq, err := best(reps, byoi, qemu)
	if err != nil {
		return err
	}
	goal := 1.3
	if comp != "none" {
		goal = 1.0
	}
	rep.add(Row{Part: "P1", Case: fmt.Sprintf("qcow2 %s %s %s → %s", sizeName(s.size), density(s), comp, kind),
		Metric: "s", Byoi: tb, Ref: tq, RefName: "qemu-img", Target: goal, Command: line,
		Extra: map[string]float64{"byoiMiBps": float64(s.size) / mib / tb, "writtenMiB": float64(res.Written) / mib,
			"zeroedMiB": float64(res.Zeroed) / mib, "downloadedMiB": float64(res.Downloaded) / mib}})
	return nil
}

func density(s imageSpec) string {
	if s.dense {
		return "dense"
	}
	return "sparse"
}
