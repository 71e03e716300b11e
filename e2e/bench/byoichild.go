package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/initramfs/agent"
	"github.com/byoi/byoi/initramfs/image"
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
func (in install) run(ctx context.Context) (time.Duration, childReport, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, childReport{}, err
	}
	cmd := exec.CommandContext(ctx, self, in.args()...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err = cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, childReport{}, fmt.Errorf("byoi install %s: %w: %s", in.url, err, strings.TrimSpace(errb.String()))
	}
	var r childReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return 0, childReport{}, fmt.Errorf("byoi install child output %q: %w", out.String(), err)
	}
	return d, r, nil
}

type childReport struct {
	Seconds    float64 `json:"seconds,omitempty"`
	Written    int64   `json:"written,omitempty"`
	Downloaded int64   `json:"downloaded,omitempty"`
	Requests   int64   `json:"requests,omitempty"`
	Refetched  int64   `json:"refetched,omitempty"`
	Direct     bool    `json:"direct,omitempty"`
	VmHWMKiB   int64   `json:"vmHWMKiB"`
	Error      string  `json:"error,omitempty"`
	ErrorKind  string  `json:"errorKind,omitempty"`
}

// roleInstall is the child: install URL of TYPE onto TARGET and print a
// childReport. An install that fails with an *image.Error is reported in
// the JSON (P3's bombs must fail), anything else is the child's failure.
func roleInstall(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	sum := fs.String("sum", "", "TYPE:HEX checksum")
	pageCache := fs.Bool("page-cache", false, "write block devices through the page cache")
	threads := fs.Int("threads", 0, "xz blocks decoded at once")
	memLimit := fs.Bool("memory-limit", false, "set the agent's Go memory limit")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the install to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return errors.New("usage: -role install [flags] URL TYPE TARGET")
	}
	if *memLimit {
		setAgentMemoryLimit()
	}
	o := image.Options{URL: fs.Arg(0), Type: fs.Arg(1), DecodeThreads: *threads}
	if *sum != "" {
		o.ChecksumType, o.Checksum, _ = strings.Cut(*sum, ":")
	}
	t0 := time.Now()
	t, err := image.OpenTarget(fs.Arg(2))
	if err != nil {
		return err
	}
	defer t.Close()
	if *pageCache {
		t.UsePageCache()
	}
	direct := t.Direct()
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := image.Install(ctx, o, t)
	r := childReport{Seconds: time.Since(t0).Seconds(), Written: res.Written, Downloaded: res.Downloaded,
		Requests: res.Requests, Refetched: res.Refetched, Direct: direct}
	var ie *image.Error
	if errors.As(err, &ie) {
		r.Error, r.ErrorKind = ie.Error(), ie.Kind.String()
	} else if err != nil {
		return err
	}
	r.VmHWMKiB = vmHWM()
	return json.NewEncoder(stdout).Encode(r)
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// setAgentMemoryLimit gives the child the installer's Go memory limit.
func setAgentMemoryLimit() { agent.SetMemoryLimit() }
