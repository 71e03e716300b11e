package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/byoi/byoi/initramfs/image"
)

func p2Specs(quick bool) []imageSpec {
	if quick {
		return []imageSpec{{128 * mib, true}, {512 * mib, false}}
	}
	return []imageSpec{{512 * mib, true}, {1 * gib, false}}
}

var decompressors = map[string]string{"none": "", "gzip": "gzip -dc", "zstd": "zstd -dc", "xz": "xz -dc"}

// benchRaw is P2: raw and compressed raw → file, byoi against
// `curl | [decompressor |] dd bs=4M conv=fsync` from the same HTTP server,
// with the checksum verified (sha256) and not.
func benchRaw(ctx context.Context, c *config, rep *report) error {
	im, srv, tg, err := imageFixture(c)
	if err != nil {
		return err
	}
	defer srv.close()
	defer tg.close()
	rep.note("P2: byoi hashes only when a checksum is asked (on its own goroutine); the reference adds `tee >(sha256sum)` when the checksum is on")
	rep.note("P2: compressed files made with gzip -1, zstd -3, xz -1 (decoding speed barely depends on the level)")
	var denseOn float64
	var denseSize int64
	for _, s := range p2Specs(c.quick) {
		raw, err := im.raw(s)
		if err != nil {
			return err
		}
		for _, comp := range []string{"none", "gzip", "zstd", "xz"} {
			file := raw
			if comp != "none" {
				if file, err = im.compressed(raw, comp); err != nil {
					return err
				}
			}
			sum, err := fileSHA256(file)
			if err != nil {
				return err
			}
			checks := []bool{true}
			if s.dense {
				checks = []bool{false, true}
			}
			for _, check := range checks {
				tb, err := p2Case(ctx, rep, tg, srv, s, raw, file, comp, sum, check)
				if err != nil {
					return err
				}
				if s.dense && comp == "none" && check {
					denseOn, denseSize = tb, s.size
				}
			}
		}
	}
	hashCost(rep, denseOn, denseSize)
	return nil
}

func p2Case(ctx context.Context, rep *report, tg *targets, srv *fileServer, s imageSpec, raw, file, comp, sum string, check bool) (float64, error) {
	o := image.Options{URL: srv.url(file), Type: "raw"}
	if check {
		o.ChecksumType, o.Checksum = "sha256", sum
	}
	verified := false
	byoi := func() (time.Duration, error) {
		p, err := tg.file(s.size)
		if err != nil {
			return 0, err
		}
		d, _, err := byoiInstall(ctx, o, p)
		if err != nil {
			return 0, fmt.Errorf("byoi install %s: %w", file, err)
		}
		if !verified {
			if err := sameContent(raw, p, s.size); err != nil {
				return 0, fmt.Errorf("byoi wrote a wrong image: %w", err)
			}
			verified = true
		}
		return d, nil
	}
	var line string
	ref := func() (time.Duration, error) {
		p, err := tg.file(s.size)
		if err != nil {
			return 0, err
		}
		line = refPipeline(srv.url(file), decompressors[comp], p, check, filepath.Join(tg.dir, "sum"))
		return shell(ctx, line)
	}
	reps := 2
	if comp == "xz" {
		reps = 1
	}
	tb, tr, err := best(reps, byoi, ref)
	if err != nil {
		return 0, err
	}
	goal, what := 0.95, "dense"
	if !s.dense {
		goal, what = 1.0, "sparse"
	}
	ck := "no checksum"
	if check {
		ck = "sha256"
	}
	rep.add(Row{Part: "P2", Case: fmt.Sprintf("raw %s %s %s, %s", sizeName(s.size), what, comp, ck),
		Metric: "s", Byoi: tb, Ref: tr, RefName: "curl|dd", Target: goal, Command: line,
		Extra: map[string]float64{"byoiMiBps": float64(s.size) / mib / tb, "refMiBps": float64(s.size) / mib / tr}})
	return tb, nil
}

// refPipeline is what a user would type: curl into the decompressor into dd,
// with sha256sum on a tee'd copy when the checksum is checked.
func refPipeline(url, dec, target string, check bool, sumFile string) string {
	line := fmt.Sprintf("curl -sSf '%s'", url)
	prefix, suffix := "", ""
	if check {
		fifo := sumFile + ".fifo"
		prefix = fmt.Sprintf("rm -f '%s'; mkfifo '%s'; sha256sum < '%s' > '%s' & ", fifo, fifo, fifo, sumFile)
		line += fmt.Sprintf(" | tee '%s'", fifo)
		suffix = "; wait $!"
	}
	if dec != "" {
		line += " | " + dec
	}
	line += fmt.Sprintf(" | dd bs=4M of='%s' conv=notrunc,fsync status=none", target)
	return prefix + line + suffix
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
