package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/byoi/byoi/initramfs/image"
)

// benchMemory is P3: the peak RSS of the image pipeline, run in a child
// process (this binary with -role install) so nothing else of the bench
// counts, for growing images.
func benchMemory(ctx context.Context, c *config, rep *report) error {
	im, srv, tg, err := imageFixture(c)
	if err != nil {
		return err
	}
	defer srv.close()
	defer tg.close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	idle, err := childRSS(ctx, exec.CommandContext(ctx, self, "-role", "idle"))
	if err != nil {
		return err
	}
	rep.note("P3: peak RSS (VmHWM, read by the child itself just before it exits; getrusage would count the parent's memory shared until exec) of a child process running image.Install; the same binary doing nothing peaks at %.1f MiB. 4 GiB images are sparse. The 'VM with 512 MiB installs a 2 GiB image' check belongs to the QEMU e2e suite and is not run here", idle)
	specs := []imageSpec{{256 * mib, true}, {1 * gib, true}, {4 * gib, false}}
	if c.quick {
		specs = []imageSpec{{64 * mib, true}, {256 * mib, true}, {1 * gib, false}}
	}
	peaks := map[string][]float64{}
	for _, s := range specs {
		raw, err := im.raw(s)
		if err != nil {
			return err
		}
		formats := []string{"raw", "qcow2"}
		if s.size == 1*gib || (c.quick && s.size == 256*mib) {
			formats = append(formats, "raw.zst", "qcow2 zstd")
		}
		for _, f := range formats {
			file, typ := raw, "raw"
			switch f {
			case "qcow2":
				file, err = im.qcow2(raw, "none")
				typ = "qcow2"
			case "qcow2 zstd":
				file, err = im.qcow2(raw, "zstd")
				typ = "qcow2"
			case "raw.zst":
				file, err = im.compressed(raw, "zstd")
			}
			if err != nil {
				return err
			}
			p, err := tg.file(s.size)
			if err != nil {
				return err
			}
			rss, err := childRSS(ctx, exec.CommandContext(ctx, self, "-role", "install", srv.url(file), typ, p))
			if err != nil {
				return fmt.Errorf("install %s in a child: %w", file, err)
			}
			peaks[f] = append(peaks[f], rss)
			rep.add(Row{Part: "P3", Case: fmt.Sprintf("peak RSS %s %s %s", f, sizeName(s.size), density(s)),
				Metric: "MiB", Byoi: rss, Target: 64, TargetAbs: true})
		}
	}
	for _, f := range []string{"raw", "qcow2"} {
		v := peaks[f]
		if len(v) < 2 {
			continue
		}
		growth := v[len(v)-1] - v[0]
		rep.add(Row{Part: "P3", Case: fmt.Sprintf("RSS growth %s %s→%s", f, sizeName(specs[0].size), sizeName(specs[len(specs)-1].size)),
			Metric: "MiB", Byoi: max(growth, 0.01), Note: fmt.Sprintf("%.1f MiB more for a %d× larger image", growth, specs[len(specs)-1].size/specs[0].size)})
	}
	return nil
}

// childRSS runs cmd, a child that prints {"vmHWMKiB": n} last, and
// returns its peak resident set in MiB.
func childRSS(ctx context.Context, cmd *exec.Cmd) (float64, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, err
	}
	var r childReport
	if err := json.Unmarshal(out, &r); err != nil || r.VmHWMKiB == 0 {
		return 0, fmt.Errorf("child output %q: %v", out, err)
	}
	return float64(r.VmHWMKiB) / 1024, nil
}

type childReport struct {
	Seconds  float64 `json:"seconds,omitempty"`
	Written  int64   `json:"written,omitempty"`
	VmHWMKiB int64   `json:"vmHWMKiB"`
}

// vmHWM reads this process's peak resident set (KiB) from /proc.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// roleIdle reports the peak RSS of this binary doing nothing.
func roleIdle(stdout io.Writer) error {
	return json.NewEncoder(stdout).Encode(childReport{VmHWMKiB: vmHWM()})
}

// roleInstall is the child of P3: install URL of TYPE onto TARGET.
func roleInstall(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: -role install URL TYPE TARGET")
	}
	d, res, err := byoiInstall(ctx, image.Options{URL: args[0], Type: args[1]}, args[2])
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(childReport{Seconds: d.Seconds(), Written: res.Written, VmHWMKiB: vmHWM()})
}
