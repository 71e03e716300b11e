package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/byoi/byoi/e2e/bench/child"
)

// P1 is the installer's real path: an image at an HTTP URL (a server on
// 127.0.0.1 in its own process) onto the target, byoi's whole
// image.Install in a child process, against
//
//	(a) what OVH does: curl downloads the file to tmpfs, [sha256sum -c,]
//	    then qemu-img convert -O raw (or, for compressed raw, the
//	    decompressor piped into dd conv=sparse) writes the target;
//	(b) the floor: the same conversion reading a local copy of the file.
//
// Each case runs three times, the order of the three rotating; the table
// shows the median ratio and its range, and a target is met only if every
// run meets it.
const p1Runs = 3

// p1Case is one image on one kind of target.
type p1Case struct {
	spec    imageSpec
	format  string // "qcow2" or "raw"
	comp    string // qcow2: none, zlib, zstd; raw: none, gzip, zstd, xz
	check   bool   // sha256 verified by both sides
	target  string // "file", "loop" (O_DIRECT / -t none), "loop, page cache", "disk" (O_DIRECT / -t none)
	threads int    // xz: blocks decoded at once by both sides (0: byoi's default, 2)
}

func (c p1Case) name() string {
	n := fmt.Sprintf("%s %s %s %s", c.format, sizeName(c.spec.size), density(c.spec), c.comp)
	if c.threads == 1 {
		n += " 1 thread"
	}
	if c.check {
		n += " sha256"
	}
	return n + " → " + c.target
}

func p1Cases(quick bool) []p1Case {
	dense1, sparse1, sparse4 := imageSpec{1 * gib, true}, imageSpec{1 * gib, false}, imageSpec{4 * gib, false}
	dense512, dense256, dense64 := imageSpec{512 * mib, true}, imageSpec{256 * mib, true}, imageSpec{64 * mib, true}
	if quick {
		dense1, sparse1, sparse4 = imageSpec{128 * mib, true}, imageSpec{256 * mib, false}, imageSpec{512 * mib, false}
		dense512, dense256, dense64 = imageSpec{128 * mib, true}, imageSpec{64 * mib, true}, imageSpec{32 * mib, true}
	}
	// The slow decoders run on smaller images (zlib and gzip 512 MiB, xz
	// 256 MiB, and 64 MiB with one thread), so that make bench stays under
	// 15 minutes: at 1 GiB their rows took 45-75 s each.
	cs := []p1Case{
		{spec: dense1, format: "qcow2", comp: "none", target: "file"},
		{spec: dense512, format: "qcow2", comp: "zlib", target: "file"},
		{spec: dense1, format: "qcow2", comp: "zstd", target: "file"},
	}
	if canLoop() {
		// The page-cache row is sparse: 1 GiB written through a loop
		// device's page cache takes 3-6 s per tool on this kernel.
		cs = append(cs, p1Case{spec: dense512, format: "qcow2", comp: "none", target: "loop"},
			p1Case{spec: sparse1, format: "qcow2", comp: "none", target: "loop, page cache"},
			p1Case{spec: dense512, format: "qcow2", comp: "none", target: "disk"})
	}
	cs = append(cs,
		p1Case{spec: dense1, format: "raw", comp: "none", target: "file"},
		p1Case{spec: dense512, format: "raw", comp: "gzip", target: "file"},
		p1Case{spec: dense1, format: "raw", comp: "zstd", target: "file"},
		p1Case{spec: dense256, format: "raw", comp: "xz", target: "file"},
		p1Case{spec: dense64, format: "raw", comp: "xz", threads: 1, target: "file"})
	for _, comp := range []string{"none", "zlib", "zstd"} {
		cs = append(cs, p1Case{spec: sparse1, format: "qcow2", comp: comp, check: true, target: "file"})
	}
	// Raw with holes and a checksum, uncompressed or gzip: P2's rows.
	for _, comp := range []string{"zstd", "xz"} {
		cs = append(cs, p1Case{spec: sparse1, format: "raw", comp: comp, check: true, target: "file"})
	}
	return append(cs,
		p1Case{spec: sparse4, format: "qcow2", comp: "none", target: "file"},
		p1Case{spec: sparse4, format: "qcow2", comp: "zstd", check: true, target: "file"},
		p1Case{spec: sparse4, format: "raw", comp: "none", target: "file"})
}

// benchHTTP is P1.
func benchHTTP(ctx context.Context, c *config, rep *report) error {
	im, srv, tg, err := imageFixture(ctx, c)
	if err != nil {
		return err
	}
	defer srv.close()
	defer tg.close()
	rep.note("P1: byoi = image.Install (the installer's path) in a child process, timed from exec to exit, downloading from an HTTP server on 127.0.0.1 (its own process, sendfile); (a) = curl downloads to tmpfs, then sha256sum -c when the row checks sha256, then qemu-img convert -n -O raw (compressed raw: DEC -dc | dd bs=1M conv=sparse,notrunc,fsync), each tool executed directly, no shell; (b) = the same conversion (and sha256sum -c) reading a local copy; all write a file on tmpfs or a loop device over one, or for 'disk' rows a loop device with direct I/O over a file on this machine's disk, and end with fsync")
	rep.note("P1: %d timed runs per case, rotating which side goes first, after one untimed read of the image file (so that no side pays a cold disk read) and one untimed warm-up run of each side onto a fresh sparse target, whose output is compared with the raw image; the timed runs write over the target (and (a) over its downloaded copy, curl's stdout opened without truncation, which spares (a) the fresh tmpfs memory a rescue system's download takes: 0.3 s more per GiB on this VM when warm) as the run before left it, as an install writes over a disk's old contents, so that no run pays this VM's first-touch cost of fresh memory (4-8 s per GiB, see docs/performance.md); the ratio column is the median and (min–max); a target is met only if every run meets it", p1Runs)
	rep.note("P1: loop and disk rows: byoi writes aligned chunks with O_DIRECT and qemu-img runs with -t none; 'page cache' rows: byoi with O_DIRECT off, qemu-img with its default cache (writeback, flushed at close)")
	rep.note("P1: xz files are made with xz -1 -T0 (blocks with sizes): byoi decodes 2 blocks at once, the references run xz -T2 -dc; '1 thread' rows: byoi with DecodeThreads 1, xz -T1")
	for _, pc := range p1Cases(c.quick) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !c.wantCase(pc.name()) {
			continue
		}
		t0 := time.Now()
		if err := p1Run(ctx, rep, im, srv, tg, pc); err != nil {
			return fmt.Errorf("%s: %w", pc.name(), err)
		}
		logf("%s: %.0f s", pc.name(), time.Since(t0).Seconds())
	}
	downloadNote(rep)
	return nil
}

// downloadNote says under the table how fast the download alone runs
// against (b), the bound of any install that streams the image over HTTP:
// byoi takes at least the download's time, so its ratio to (b) cannot
// exceed the download's.
func downloadNote(rep *report) {
	var rows []string
	unreachable := false
	rep.mu.Lock()
	for _, row := range rep.Rows {
		name, ok := strings.CutSuffix(row.Case, " (download alone)")
		if !ok || row.Part != "P1" {
			continue
		}
		rows = append(rows, fmt.Sprintf("%.2f× (%s)", row.Ratio, name))
		unreachable = unreachable || row.Ratio < 0.9
	}
	rep.mu.Unlock()
	if len(rows) == 0 {
		return
	}
	msg := "P1: the HTTP download alone (the installer's client reading the body; no hashing, decoding or writing) against (b), median of 3: " +
		strings.Join(rows, ", ")
	if unreachable {
		msg += "; below 0.9×, the ≥ 0.9× of (b) target cannot be met here by any install that streams the image over HTTP (byoi's time includes the download)"
	}
	rep.note("%s", msg)
}

// p1Run measures one case and adds its two rows.
func p1Run(ctx context.Context, rep *report, im images, srv *imageServer, tg *targets, pc p1Case) error {
	raw, err := im.raw(pc.spec)
	if err != nil {
		return err
	}
	file, err := im.file(raw, pc.format, pc.comp)
	if err != nil {
		return err
	}
	sum := ""
	if pc.check {
		if sum, err = im.sha256(file); err != nil {
			return err
		}
	}
	if im.prepare {
		return nil
	}
	if err := warm(file); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(tg.dir, "download")) // (a)'s copy, kept between its runs
	var child child.Report
	var lineA, lineB string
	sides := []func(run int) (time.Duration, error){
		func(run int) (time.Duration, error) {
			d, r, err := p1Byoi(ctx, tg, srv, pc, file, raw, sum, run == 0)
			child = r
			return d, err
		},
		func(run int) (time.Duration, error) {
			d, line, err := p1Ref(ctx, tg, srv, pc, file, raw, sum, true, run == 0)
			lineA = line
			return d, err
		},
		func(run int) (time.Duration, error) {
			d, line, err := p1Ref(ctx, tg, srv, pc, file, raw, sum, false, run == 0)
			lineB = line
			return d, err
		},
	}
	if pc.comp == "none" { // the rows with a target against (b): what the download alone costs
		sides = append(sides, func(int) (time.Duration, error) { return download(ctx, srv.url(file)) })
	}
	runs, cpu, err := rotate(p1Runs, sides...)
	if err != nil {
		return err
	}
	refA, refB := "curl+qemu-img", "qemu-img"
	if pc.format == "raw" && pc.comp != "none" {
		refA, refB = "curl+"+pc.comp+"|dd", pc.comp+"|dd"
	}
	goalA, goalB := 1.5, 0.0
	if pc.comp == "none" {
		goalB = 0.9
	}
	for _, ref := range []struct {
		name, line string
		times, cpu []float64
		goal       float64
	}{{"(a) " + refA, lineA, runs[1], cpu[1], goalA}, {"(b) " + refB, lineB, runs[2], cpu[2], goalB}} {
		extra := map[string]float64{"byoiMiBps": float64(pc.spec.size) / mib / median(runs[0]),
			"downloadedMiB": float64(child.Downloaded) / mib, "requests": float64(child.Requests),
			"refetchedBlocks": float64(child.Refetched), "peakRSSMiB": float64(child.VmHWMKiB) / 1024,
			"byoiCPUs": median(cpu[0]), "refCPUs": median(ref.cpu), "cpuRatio": median(ref.cpu) / median(cpu[0])}
		row := Row{Part: "P1", Case: pc.name(), Metric: "s", RefName: ref.name, Target: ref.goal, Command: ref.line, Extra: extra}
		for i := range runs[0] {
			row.Runs = append(row.Runs, Run{Byoi: runs[0][i], Ref: ref.times[i]})
		}
		rep.add(row)
	}
	if len(runs) > 3 {
		row := Row{Part: "P1", Case: pc.name() + " (download alone)", Metric: "s", RefName: "(b) " + refB,
			Command: "GET with the installer's HTTP client, body read into one 1 MiB buffer, nothing written",
			Extra:   map[string]float64{"downloadCPUs": median(cpu[3]), "refCPUs": median(cpu[2])}}
		for i := range runs[3] {
			row.Runs = append(row.Runs, Run{Byoi: runs[3][i], Ref: runs[2][i]})
		}
		rep.add(row)
	}
	return nil
}

// p1Byoi is one byoi run; the warm-up run writes a fresh target, which is
// compared with the raw image.
func p1Byoi(ctx context.Context, tg *targets, srv *imageServer, pc p1Case, file, raw, sum string, warmup bool) (_ time.Duration, _ child.Report, err error) {
	path, done, err := tg.make(pc.spec.size, pc.target, warmup)
	if err != nil {
		return 0, child.Report{}, err
	}
	defer cleanup(&err, done)
	in := install{url: srv.url(file), typ: pc.format, target: path, pageCache: pc.target == "loop, page cache", threads: pc.threads}
	if pc.check {
		in.sumType, in.sum = "sha256", sum
	}
	d, r, err := in.run(ctx)
	if err != nil {
		return 0, r, err
	}
	if r.Error != "" {
		return 0, r, fmt.Errorf("byoi install: %s", r.Error)
	}
	if warmup {
		if err := sameContent(raw, path, pc.spec.size); err != nil {
			return 0, r, fmt.Errorf("byoi wrote a wrong image: %w", err)
		}
	}
	return d, r, nil
}

// p1Ref is one run of reference (a) (download first) or (b) (local file).
func p1Ref(ctx context.Context, tg *targets, srv *imageServer, pc p1Case, file, raw, sum string, download, warmup bool) (_ time.Duration, _ string, err error) {
	path, done, err := tg.make(pc.spec.size, pc.target, warmup)
	if err != nil {
		return 0, "", err
	}
	defer cleanup(&err, done)
	src := file
	var total time.Duration
	var line string
	if download {
		// curl -o would truncate the copy the previous run left; its
		// stdout writes over it in place (see targets).
		out, err := tg.reused("download", warmup)
		if err != nil {
			return 0, "", err
		}
		src = out.Name()
		dl := stage{args: []string{"curl", "-sSf", srv.url(file)}, out: out}
		d, err := pipeline(ctx, dl)
		out.Close()
		if err != nil {
			return 0, "", err
		}
		total += d
		line = pipelineLine(dl) + " && "
	}
	if pc.check {
		sums := filepath.Join(tg.dir, "sums")
		if err := os.WriteFile(sums, []byte(sum+"  "+src+"\n"), 0o644); err != nil {
			return 0, "", err
		}
		d, err := command(ctx, "sha256sum", "--quiet", "-c", sums)
		if err != nil {
			return 0, "", err
		}
		total += d
		line += "sha256sum -c && "
	}
	stages := p1Convert(pc, src, path)
	d, err := pipeline(ctx, stages...)
	if err != nil {
		return 0, "", err
	}
	t0 := time.Now()
	if err := fsync(path); err != nil {
		return 0, "", err
	}
	total += d + time.Since(t0)
	if warmup {
		if err := sameContent(raw, path, pc.spec.size); err != nil {
			return 0, "", fmt.Errorf("reference %s wrote a wrong image: %w", pipelineLine(stages...), err)
		}
	}
	return total, line + pipelineLine(stages...) + " && sync", nil
}

// p1Convert is the conversion of a reference: qemu-img, or the
// decompressor into dd.
func p1Convert(pc p1Case, src, target string) []stage {
	if pc.format == "qcow2" || pc.comp == "none" {
		args := []string{"qemu-img", "convert", "-n", "-f", pc.format, "-O", "raw"}
		if pc.target == "loop" || pc.target == "disk" {
			args = append(args, "-t", "none")
		}
		return []stage{{args: append(args, src, target)}}
	}
	dec := []string{pc.comp, "-dc"}
	if pc.comp == "xz" {
		threads := pc.threads
		if threads == 0 {
			threads = 2
		}
		dec = append(dec, fmt.Sprintf("-T%d", threads))
	}
	return []stage{{args: append(dec, src)}, {args: []string{"dd", "of=" + target, "bs=1M", "conv=sparse,notrunc,fsync", "status=none"}}}
}
