package main

import (
	"context"
	"fmt"
	"os"
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

// benchQcow2 is P1: qcow2 → target, byoi's writer (image.InstallLocal on
// the local file) against `qemu-img convert -n -O raw` (same file) followed
// by an fsync; byoi's whole pipeline (image.Install downloading over HTTP
// from 127.0.0.1) is an extra row against the same qemu-img time, without
// a target.
func benchQcow2(ctx context.Context, c *config, rep *report) error {
	im, srv, tg, err := imageFixture(c)
	if err != nil {
		return err
	}
	defer srv.close()
	defer tg.close()
	rep.note("P1: byoi's writer (image.InstallLocal) and qemu-img read the same local qcow2 file; both write a fresh sparse file on tmpfs (or a loop device over one) and end with fsync; no checksum")
	rep.note("P1: rows marked 'over HTTP' run byoi's whole pipeline (image.Install downloading from 127.0.0.1) against the same qemu-img time: informational, no target")
	rep.note("P1: on loop devices byoi writes aligned chunks with O_DIRECT, qemu-img (default cache mode) 2 MiB writes through the page cache, flushed when it closes the device; the fsync after both is included")
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
				pc := &p1Run{tg: tg, srv: srv, s: s, raw: raw, q: q, kind: kind}
				if err := pc.run(ctx, rep, comp); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// p1Run is one P1 case: an image and a kind of target.
type p1Run struct {
	tg       *targets
	srv      *fileServer
	s        imageSpec
	raw, q   string
	kind     string // "file" or "loop"
	verified bool
	res      image.Result
}

func (p *p1Run) target() (string, func(), error) {
	if p.kind == "loop" {
		return p.tg.loop(p.s.size)
	}
	path, err := p.tg.file(p.s.size)
	return path, func() {}, err
}

// byoi installs with install (local or over HTTP) and checks the first
// result against the raw image.
func (p *p1Run) byoi(ctx context.Context, install func(ctx context.Context, path string) (time.Duration, image.Result, error)) (time.Duration, error) {
	path, done, err := p.target()
	if err != nil {
		return 0, err
	}
	defer done()
	d, r, err := install(ctx, path)
	if err != nil {
		return 0, fmt.Errorf("byoi install %s: %w", p.q, err)
	}
	p.res = r
	if !p.verified {
		if err := sameContent(p.raw, path, p.s.size); err != nil {
			return 0, fmt.Errorf("byoi wrote a wrong image: %w", err)
		}
		p.verified = true
	}
	return d, nil
}

func (p *p1Run) local(ctx context.Context, path string) (time.Duration, image.Result, error) {
	t0 := time.Now()
	f, err := os.Open(p.q)
	if err != nil {
		return 0, image.Result{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, image.Result{}, err
	}
	t, err := image.OpenTarget(path)
	if err != nil {
		return 0, image.Result{}, err
	}
	defer t.Close()
	res, err := image.InstallLocal(ctx, image.Options{Type: "qcow2"}, f, st.Size(), t)
	return time.Since(t0), res, err
}

func (p *p1Run) http(ctx context.Context, path string) (time.Duration, image.Result, error) {
	return byoiInstall(ctx, image.Options{URL: p.srv.url(p.q), Type: "qcow2"}, path)
}

func (p *p1Run) run(ctx context.Context, rep *report, comp string) error {
	var line string
	qemu := func() (time.Duration, error) {
		path, done, err := p.target()
		if err != nil {
			return 0, err
		}
		defer done()
		line = fmt.Sprintf("qemu-img convert -n -f qcow2 -O raw %s %s && sync %s", p.q, path, path)
		t0 := time.Now()
		if _, err := shell(ctx, fmt.Sprintf("qemu-img convert -n -f qcow2 -O raw '%s' '%s'", p.q, path)); err != nil {
			return 0, err
		}
		if err := fsync(path); err != nil {
			return 0, err
		}
		return time.Since(t0), nil
	}
	reps := 2
	if p.s.size > 2*gib && p.s.dense {
		reps = 1
	}
	tb, tq, err := best(reps, func() (time.Duration, error) { return p.byoi(ctx, p.local) }, qemu)
	if err != nil {
		return err
	}
	goal := 1.3
	if comp != "none" {
		goal = 1.0
	}
	name := fmt.Sprintf("qcow2 %s %s %s → %s", sizeName(p.s.size), density(p.s), comp, p.kind)
	rep.add(Row{Part: "P1", Case: name, Metric: "s", Byoi: tb, Ref: tq, RefName: "qemu-img", Target: goal, Command: line,
		Extra: map[string]float64{"byoiMiBps": float64(p.s.size) / mib / tb, "writtenMiB": float64(p.res.Written) / mib,
			"zeroedMiB": float64(p.res.Zeroed) / mib}})
	if p.kind != "file" {
		return nil
	}
	th := 0.0
	for i := range reps {
		d, err := p.byoi(ctx, p.http)
		if err != nil {
			return err
		}
		if i == 0 || d.Seconds() < th {
			th = d.Seconds()
		}
	}
	rep.add(Row{Part: "P1", Case: name + ", over HTTP", Metric: "s", Byoi: th, Ref: tq, RefName: "qemu-img", Command: line,
		Extra: map[string]float64{"byoiMiBps": float64(p.s.size) / mib / th, "downloadedMiB": float64(p.res.Downloaded) / mib}})
	return nil
}

func density(s imageSpec) string {
	if s.dense {
		return "dense"
	}
	return "sparse"
}
