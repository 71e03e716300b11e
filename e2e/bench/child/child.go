// Package child is the bench's child process for byoi's side: one install
// through image.Install (the agent's path), the download alone, or nothing
// (P3's baseline). It runs in its own small binary (e2e/bench/benchchild),
// which links what the installer links and not the rest of the bench (the
// storm, the servers): the bench binary took about 24 ms from exec to exit
// doing nothing, this one 14 ms, and the reference tools are timed from
// exec to exit too.
package child

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/initramfs/agent"
	"github.com/byoi/byoi/initramfs/image"
)

// Report is what a child prints, as JSON, when it is done.
type Report struct {
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

// Run plays role (install, download, idle) with args and prints its Report.
func Run(ctx context.Context, role string, args []string, stdout io.Writer) error {
	switch role {
	case "install":
		return install(ctx, args, stdout)
	case "download":
		return download(ctx, args, stdout)
	case "idle":
		return json.NewEncoder(stdout).Encode(Report{VmHWMKiB: vmHWM()})
	}
	return fmt.Errorf("unknown role %q (install, download, idle)", role)
}

// install installs URL of TYPE onto TARGET. An install that fails with an
// *image.Error is reported in the JSON (P3's bombs must fail), anything
// else is the child's failure.
func install(ctx context.Context, args []string, stdout io.Writer) error {
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
		agent.SetMemoryLimit()
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
	r := Report{Seconds: time.Since(t0).Seconds(), Written: res.Written, Downloaded: res.Downloaded,
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

// DownloadBuf is the read size of the download role: about what the
// installer asks of the stream at a time (a qcow2 chunk, a raw read).
const DownloadBuf = 1 << 20

// download GETs URL with the installer's HTTP client (image.DefaultClient,
// Accept-Encoding identity as the installer sends) and reads the body to
// the end into one reused buffer, writing nothing: what the download alone
// costs, without hashing, decoding or writing.
func download(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: -role download URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Encoding", "identity")
	t0 := time.Now()
	resp, err := image.DefaultClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", args[0], resp.Status)
	}
	buf := make([]byte, DownloadBuf)
	var n int64
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read at %d: %w", n, err)
		}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("got %d bytes, want %d", n, resp.ContentLength)
	}
	return json.NewEncoder(stdout).Encode(Report{Seconds: time.Since(t0).Seconds(), Downloaded: n})
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
