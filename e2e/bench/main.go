// Command bench measures byoi against the tools a user would otherwise use,
// side by side in one run on the same machine, and prints ratios (absolute
// figures drift on shared machines; ratios measured back to back do not).
//
//	make bench                                   # everything, < 15 minutes
//	BYOI_ROOT=$PWD go run ./e2e/bench -only P1,P3  # some parts
//
// Parts: P1 qcow2 → target against qemu-img convert; P2 raw and compressed
// raw against curl | decompressor | dd; P3 peak RSS of the installer's image
// pipeline in a child process; P4 a PXE boot storm (DHCP, TFTP, HTTP)
// against dnsmasq inside network namespaces; P5 the API under 200
// concurrent agents. The table goes to stdout, every figure to
// bench-results.json in the results directory it prints.
//
// The same binary also plays the child roles the parts need (-role storm,
// -role static-http, -role image-http); those are internal. byoi's installs
// run in a smaller binary of their own, e2e/bench/benchchild, which the
// bench builds first (package child says why).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	root    string // repository root (BYOI_ROOT)
	work    string // images (kept between runs) and targets
	out     string // results directory
	only    map[string]bool
	quick   bool
	cases   *regexp.Regexp // P1-P3: only the cases whose names match
	prepare bool           // P1-P3: only generate the images
	role    string
	roleArg []string
}

func (c *config) want(part string) bool { return len(c.only) == 0 || c.only[part] }

// wantCase says whether an image case (P1-P3) is selected by -cases.
func (c *config) wantCase(name string) bool { return c.cases == nil || c.cases.MatchString(name) }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var c config
	var only string
	fs.StringVar(&c.work, "work", filepath.Join(os.TempDir(), "byoi-bench"), "work directory: generated images (cached) and targets")
	fs.StringVar(&c.out, "out", "", "results directory (default $BYOI_ROOT/bin/bench/<date>)")
	fs.StringVar(&only, "only", "", "comma-separated parts to run (P1,P2,P3,P4,P5); default all")
	fs.BoolVar(&c.quick, "quick", false, "smaller sizes, for a smoke run (figures not comparable)")
	cases := fs.String("cases", "", "P1-P3: only the cases whose names match this regular expression")
	fs.BoolVar(&c.prepare, "prepare", false, "generate the images the P1-P3 cases need (cached in -work), measure nothing, skip P4 and P5")
	fs.StringVar(&c.role, "role", "", "internal: child role (storm, static-http, image-http)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.roleArg = fs.Args()
	if *cases != "" {
		re, err := regexp.Compile(*cases)
		if err != nil {
			return fmt.Errorf("-cases: %w", err)
		}
		c.cases = re
	}
	if c.role != "" {
		return runRole(ctx, c.role, c.roleArg, stdout)
	}
	c.root = os.Getenv("BYOI_ROOT")
	if c.root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		c.root = wd
	}
	if only != "" {
		c.only = map[string]bool{}
		for _, p := range strings.Split(only, ",") {
			c.only[strings.ToUpper(strings.TrimSpace(p))] = true
		}
	}
	start := time.Now()
	if c.out == "" {
		c.out = filepath.Join(c.root, "bin", "bench", start.Format("20060102-150405"))
	}
	for _, d := range []string{c.work, c.out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("results: %w", err)
		}
	}
	if !c.prepare && (c.want("P1") || c.want("P2") || c.want("P3")) {
		if err := buildChild(ctx, &c); err != nil {
			return err
		}
	}
	rep := newReport(c, start)
	fmt.Fprintf(stdout, "byoi bench — %s, %s, results in %s\n", rep.Machine.CPU, rep.Machine.Kernel, c.out)
	parts := []struct {
		name string
		fn   func(context.Context, *config, *report) error
	}{
		{"P1", benchHTTP}, {"P2", benchRaw}, {"P3", benchMemory}, {"P4", benchStorm}, {"P5", benchAPI},
	}
	var failed []string
	for _, p := range parts {
		if !c.want(p.name) || (c.prepare && p.name > "P3") { // -prepare: images only
			continue
		}
		t0 := time.Now()
		fmt.Fprintf(os.Stderr, "== %s\n", p.name)
		if err := p.fn(ctx, &c, rep); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", p.name, err))
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", p.name, err))
			fmt.Fprintf(os.Stderr, "%s failed: %v\n", p.name, err)
		}
		rep.PartSeconds[p.name] = time.Since(t0).Seconds()
		if ctx.Err() != nil {
			break
		}
	}
	rep.TotalSeconds = time.Since(start).Seconds()
	rep.print(stdout)
	if err := rep.write(filepath.Join(c.out, "bench-results.json")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", filepath.Join(c.out, "bench-results.json"))
	if len(failed) > 0 {
		return fmt.Errorf("%d part(s) failed: %s", len(failed), strings.Join(failed, "; "))
	}
	return nil
}

// childExe is byoi's side of P1-P3, e2e/bench/benchchild, built by
// buildChild before the parts run.
var childExe string

// buildChild builds benchchild into the results directory, from the
// repository at c.root with the go command of $GO, $PATH or /usr/local/go.
func buildChild(ctx context.Context, c *config) error {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		if p, err := exec.LookPath("go"); err == nil {
			goCmd = p
		} else {
			goCmd = "/usr/local/go/bin/go"
		}
	}
	exe := filepath.Join(c.out, "benchchild")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", exe, "./e2e/bench/benchchild")
	cmd.Dir = c.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building benchchild: %w: %s", err, strings.TrimSpace(string(out)))
	}
	childExe = exe
	return nil
}

// runRole runs one of the child roles.
func runRole(ctx context.Context, role string, args []string, stdout io.Writer) error {
	switch role {
	case "storm":
		return roleStorm(ctx, args, stdout)
	case "static-http":
		return roleStaticHTTP(ctx, args)
	case "image-http":
		return roleImageHTTP(ctx, args, stdout)
	}
	return fmt.Errorf("unknown role %q", role)
}
