package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/e2e/bench/child"
)

// install is one run of byoi's installer pipeline (image.Install, the
// agent's path: download, detect, decode, write, verify, sync) in a child
// process, timed like the reference tools: from exec to exit.
type install struct {
	url, typ, target string
	sumType, sum     string // checksum asked, if any
	pageCache        bool   // block devices through the page cache, not O_DIRECT
	threads          int    // image.Options.DecodeThreads (0: default)
	memoryLimit      bool   // the agent's Go memory limit
}

func (in install) args() []string {
	a := []string{"-role", "install", "--"} // the child's own flags follow
	if in.sumType != "" {
		a = append(a, "-sum", in.sumType+":"+in.sum)
	}
	if in.pageCache {
		a = append(a, "-page-cache")
	}
	if in.threads > 0 {
		a = append(a, "-threads", strconv.Itoa(in.threads))
	}
	if in.memoryLimit {
		a = append(a, "-memory-limit")
	}
	return append(a, in.url, in.typ, in.target)
}

// run executes the child and returns its wall time and report.
func (in install) run(ctx context.Context) (time.Duration, child.Report, error) {
	cmd := exec.CommandContext(ctx, childExe, in.args()...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, child.Report{}, fmt.Errorf("byoi install %s: %w: %s", in.url, err, strings.TrimSpace(errb.String()))
	}
	var r child.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return 0, child.Report{}, fmt.Errorf("byoi install child output %q: %w", out.String(), err)
	}
	return d, r, nil
}
