package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/byoi/byoi/e2e/bench/child"
)

// p3Case is one install whose peak RSS is measured.
type p3Case struct {
	name   string
	spec   imageSpec
	format string // "raw" or "qcow2"
	file   func(im images, raw string) (string, error)
	disk   int64  // target size; 0: the image's size
	fails  string // the error kind a bomb must end with
}

func p3File(format, comp string) func(images, string) (string, error) {
	return func(im images, raw string) (string, error) { return im.file(raw, format, comp) }
}

func p3Cases(quick bool) []p3Case {
	d256, d1, s4, d128 := imageSpec{256 * mib, true}, imageSpec{1 * gib, true}, imageSpec{4 * gib, false}, imageSpec{128 * mib, true}
	bomb := int64(10 * gib)
	if quick {
		d256, d1, s4, d128, bomb = imageSpec{64 * mib, true}, imageSpec{128 * mib, true}, imageSpec{512 * mib, false}, imageSpec{64 * mib, true}, 1*gib
	}
	cs := []p3Case{
		{name: "raw", spec: d256, format: "raw", file: p3File("raw", "none")},
		{name: "qcow2", spec: d256, format: "qcow2", file: p3File("qcow2", "none")},
		{name: "raw", spec: d1, format: "raw", file: p3File("raw", "none")},
		{name: "qcow2", spec: d1, format: "qcow2", file: p3File("qcow2", "none")},
		{name: "qcow2 zlib", spec: d1, format: "qcow2", file: p3File("qcow2", "zlib")},
		{name: "qcow2 zstd", spec: d1, format: "qcow2", file: p3File("qcow2", "zstd")},
		{name: "raw.gz", spec: d1, format: "raw", file: p3File("raw", "gzip")},
		{name: "raw.zst", spec: d1, format: "raw", file: p3File("raw", "zstd")},
		{name: "raw.xz (xz -1 -T0, 2 threads)", spec: d256, format: "raw", file: p3File("raw", "xz")},
		// xz -9's 64 MiB dictionary (what sets the decoder's memory; the
		// -9 encoder itself would take minutes): two concatenated streams
		// written by xz -T2 (blocks of 192 + 64 MiB with their sizes), then
		// one stream of one block without sizes (decoded sequentially).
		{name: "raw.xz (dict 64 MiB as xz -9, -T2, 2 streams)", spec: d256, format: "raw", disk: 2 * d256.size, file: func(im images, raw string) (string, error) {
			return im.xz9Twice(raw)
		}},
		{name: "raw.xz (dict 64 MiB as xz -9, 1 stream)", spec: d128, format: "raw", file: func(im images, raw string) (string, error) {
			return im.compressedWith(raw, ".d64.xz", "xz", "--lzma2=preset=1,dict=64MiB", "-T1")
		}},
		{name: "raw", spec: s4, format: "raw", file: p3File("raw", "none")},
		{name: "qcow2", spec: s4, format: "qcow2", file: p3File("qcow2", "none")},
	}
	for _, comp := range []string{"gzip", "zstd", "xz"} {
		cs = append(cs, p3Case{name: fmt.Sprintf("%s bomb (%s of zeros)", comp, sizeName(bomb)), spec: imageSpec{bomb, false},
			format: "raw", disk: 64 * mib, fails: "too large", file: func(im images, _ string) (string, error) {
				return im.bomb(comp, bomb)
			}})
	}
	return cs
}

// benchMemory is P3: the peak RSS of the installer's image pipeline, in a
// child process (benchchild -role install, under the agent's Go
// memory limit) so nothing else of the bench counts.
func benchMemory(ctx context.Context, c *config, rep *report) error {
	im, srv, tg, err := imageFixture(ctx, c)
	if err != nil {
		return err
	}
	defer srv.close()
	defer tg.close()
	idle, err := childRSS(ctx, exec.CommandContext(ctx, childExe, "-role", "idle"))
	if err != nil {
		return err
	}
	rep.note("P3: peak RSS (VmHWM, read by the child itself just before it exits) of a child process running image.Install under the agent's Go memory limit (agent.SetMemoryLimit); the same binary doing nothing peaks at %.1f MiB. 4 GiB images are sparse. Bombs are concatenated members of compressed zeros, refused at the first byte past a 64 MiB target. The 'VM with 512 MiB installs a 2 GiB image' check belongs to the QEMU e2e suite", idle)
	for _, pc := range p3Cases(c.quick) {
		if !c.wantCase(pc.name) {
			continue
		}
		if err := p3Run(ctx, rep, im, srv, tg, pc); err != nil {
			return fmt.Errorf("%s: %w", pc.name, err)
		}
	}
	return nil
}

func p3Run(ctx context.Context, rep *report, im images, srv *imageServer, tg *targets, pc p3Case) error {
	raw := ""
	if pc.fails == "" {
		var err error
		if raw, err = im.raw(pc.spec); err != nil {
			return err
		}
	}
	file, err := pc.file(im, raw)
	if err != nil {
		return err
	}
	if im.prepare {
		return nil
	}
	disk := pc.disk
	if disk == 0 {
		disk = pc.spec.size
	}
	path, err := tg.file(tg.dir, disk)
	if err != nil {
		return err
	}
	d, r, err := install{url: srv.url(file), typ: pc.format, target: path, memoryLimit: true}.run(ctx)
	if err != nil {
		return err
	}
	if r.ErrorKind != pc.fails {
		return fmt.Errorf("install ended with %q (%s), want %q", r.ErrorKind, r.Error, pc.fails)
	}
	name := fmt.Sprintf("peak RSS %s %s %s", pc.name, sizeName(pc.spec.size), density(pc.spec))
	if pc.fails != "" {
		name = fmt.Sprintf("peak RSS %s into %s", pc.name, sizeName(disk))
	}
	rep.add(Row{Part: "P3", Case: name, Metric: "MiB", Byoi: float64(r.VmHWMKiB) / 1024, Target: 64, TargetAbs: true,
		Extra: map[string]float64{"seconds": d.Seconds(), "downloadedMiB": float64(r.Downloaded) / mib}})
	return nil
}

// xz9Twice is raw compressed by xz -T2 with xz -9's 64 MiB dictionary
// (blocks of 192 MiB with their sizes), twice: two concatenated streams.
func (im images) xz9Twice(raw string) (string, error) {
	one, err := im.compressedWith(raw, ".d64T2.xz", "xz", "--lzma2=preset=1,dict=64MiB", "-T2")
	if err != nil {
		return "", err
	}
	path := raw + ".d64T2x2.xz"
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return path, im.make(path, "sh", "-c", fmt.Sprintf("cat '%s' '%s' > '%s.tmp'", one, one, path))
}

// bomb is size bytes of zeros (after an MBR) as members of 64 MiB of
// zeros compressed with kind, concatenated: a small file that decodes to
// far more than any target.
func (im images) bomb(kind string, size int64) (string, error) {
	ext := map[string]string{"gzip": ".gz", "zstd": ".zst", "xz": ".xz"}[kind]
	path := filepath.Join(im.dir, fmt.Sprintf("bomb-%s%s", sizeName(size), ext))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	zeros := filepath.Join(im.dir, "zeros-64M.raw")
	if err := os.WriteFile(zeros, mbr(), 0o644); err != nil {
		return "", err
	}
	defer os.Remove(zeros)
	if err := os.Truncate(zeros, 64*mib); err != nil {
		return "", err
	}
	first, err := exec.Command(kind, "-c", zeros).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", kind, err)
	}
	if err := os.WriteFile(zeros, nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Truncate(zeros, 64*mib); err != nil {
		return "", err
	}
	rest, err := exec.Command(kind, "-c", zeros).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", kind, err)
	}
	data := append([]byte(nil), first...)
	for n := int64(64 * mib); n < size; n += 64 * mib {
		data = append(data, rest...)
	}
	t0 := time.Now()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", err
	}
	logf("generated %s in %.1f s", filepath.Base(path), time.Since(t0).Seconds())
	return path, nil
}

// childRSS runs cmd, a child that prints {"vmHWMKiB": n} last, and
// returns its peak resident set in MiB.
func childRSS(ctx context.Context, cmd *exec.Cmd) (float64, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, err
	}
	var r child.Report
	if err := json.Unmarshal(out, &r); err != nil || r.VmHWMKiB == 0 {
		return 0, fmt.Errorf("child output %q: %v", out, err)
	}
	return float64(r.VmHWMKiB) / 1024, nil
}
