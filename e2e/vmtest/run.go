package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/byoi/byoi/initramfs/build"
)

// Test is a package whose tests run in the VM.
type Test struct {
	Name    string   // unique, e.g. "storage"
	Package string   // import path or ./relative path, compiled with go test -c
	Dir     string   // the package's folder: its testdata goes along
	Args    []string // e.g. -test.run '^TestApplyVM$'
	Env     []string
}

// Disk is an extra virtio disk: a raw file, created sparse with Size bytes
// when it does not exist.
type Disk struct {
	Path string
	Size int64
}

// Options describe one VM run.
type Options struct {
	Root       string // repository root (go test -c runs there)
	Kernel     string
	ModulesDir string
	Modules    []string // loaded by init, with their dependencies
	Tools      []string // host programs (names looked up in PATH, or paths)
	Files      []File   // extra files
	// Links are symbolic links to add (path in the VM → target), e.g.
	// busybox applets: "usr/bin/sh": "busybox".
	Links    map[string]string
	Tests    []Test
	Disks    []Disk
	MemoryMB int // default 1024
	Work     string
	Serial   string        // serial log file; default Work/serial.log
	Timeout  time.Duration // default 30 min
	// UEFI boots OVMF (with -kernel) instead of SeaBIOS: OVMFCode and a
	// copy of OVMFVars.
	UEFI               bool
	OVMFCode, OVMFVars string
}

// Result is what the tests printed.
type Result struct {
	Sections map[string]string // test name → its output
	RC       map[string]int    // test name → exit code (missing: never ended)
	Seconds  map[string]float64
	Done     bool // init reached its end
	Boot     time.Duration
	Total    time.Duration
}

var endRE = regexp.MustCompile(`^=== VMTEST END (\S+) rc=(-?\d+) seconds=([0-9.]+)`)

// Run builds the initramfs and boots the VM until it powers off.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.MemoryMB == 0 {
		o.MemoryMB = 1024
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Serial == "" {
		o.Serial = filepath.Join(o.Work, "serial.log")
	}
	initrd, err := buildInitrd(ctx, o)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	args := []string{"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(o.MemoryMB),
		"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", o.Kernel, "-initrd", initrd, "-append", "console=ttyS0,115200 panic=-1 quiet"}
	if o.UEFI {
		vars := filepath.Join(o.Work, "OVMF_VARS.fd")
		if err := copyFile(o.OVMFVars, vars); err != nil {
			return Result{}, err
		}
		args = append(args, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+o.OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	} else {
		args = append(args, "-machine", "graphics=off")
	}
	for i, d := range o.Disks {
		if _, err := os.Stat(d.Path); os.IsNotExist(err) {
			if err := sparse(d.Path, d.Size); err != nil {
				return Result{}, err
			}
		}
		args = append(args, "-drive", fmt.Sprintf("if=none,id=d%d,format=raw,cache=unsafe,file=%s", i, d.Path),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=d%d,serial=vmtest%d", i, i))
	}
	log, err := os.Create(o.Serial)
	if err != nil {
		return Result{}, err
	}
	defer log.Close()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	cmd.Stderr = log
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start qemu: %w", err)
	}
	res := parse(io.TeeReader(out, log), start)
	werr := cmd.Wait()
	res.Total = time.Since(start)
	if ctx.Err() != nil {
		return res, fmt.Errorf("VM did not finish within %s (serial log %s)", o.Timeout, o.Serial)
	}
	if werr != nil {
		return res, fmt.Errorf("qemu: %w (serial log %s)", werr, o.Serial)
	}
	return res, nil
}

// parse splits the serial output into the tests' sections.
func parse(r io.Reader, start time.Time) Result {
	res := Result{Sections: map[string]string{}, RC: map[string]int{}, Seconds: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur string
	var b strings.Builder
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "=== VMTEST BEGIN "):
			if res.Boot == 0 {
				res.Boot = time.Since(start)
			}
			cur = strings.TrimPrefix(line, "=== VMTEST BEGIN ")
			b.Reset()
		case endRE.MatchString(line):
			m := endRE.FindStringSubmatch(line)
			res.Sections[m[1]] = b.String()
			res.RC[m[1]], _ = strconv.Atoi(m[2])
			res.Seconds[m[1]], _ = strconv.ParseFloat(m[3], 64)
			cur = ""
		case line == "=== VMTEST DONE":
			res.Done = true
		case cur != "":
			b.WriteString(line + "\n")
		}
	}
	if cur != "" {
		res.Sections[cur] = b.String()
	}
	return res
}

// buildInitrd compiles the tests and the init, packs byoi's initramfs
// (init + modules) and appends the archive of tests and tools.
func buildInitrd(ctx context.Context, o Options) (string, error) {
	bin := filepath.Join(o.Work, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	initBin := filepath.Join(bin, "init")
	if err := goBuild(ctx, o.Root, "build", "-o", initBin, "./e2e/vmtest/init"); err != nil {
		return "", err
	}
	base := filepath.Join(o.Work, "base.cpio.gz")
	if _, err := build.Build(build.Options{AgentBinary: initBin, ModulesDir: o.ModulesDir, Modules: o.Modules, CABundle: "-", Output: base}); err != nil {
		return "", err
	}
	stage := filepath.Join(o.Work, "stage")
	os.RemoveAll(stage)
	l := newLayer(stage)
	cfg := Config{Modules: o.Modules}
	for i := range o.Disks {
		cfg.Disks = append(cfg.Disks, "/dev/vd"+string(rune('a'+i)))
	}
	for _, t := range o.Tests {
		out := filepath.Join(bin, t.Name+".test")
		if err := goBuild(ctx, o.Root, "test", "-c", "-o", out, t.Package); err != nil {
			return "", err
		}
		if err := l.file(out, "tests/"+t.Name+".test", 0o755); err != nil {
			return "", err
		}
		if err := l.tree(filepath.Join(t.Dir, "testdata"), "tests/"+t.Name+"/testdata"); err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Join(stage, "tests", t.Name), 0o755); err != nil {
			return "", err
		}
		cfg.Tests = append(cfg.Tests, TestConfig{Name: t.Name, Args: t.Args, Env: t.Env})
	}
	for _, tool := range o.Tools {
		if err := l.program(tool); err != nil {
			return "", err
		}
	}
	for dst, target := range o.Links {
		if err := l.link(dst, target); err != nil {
			return "", err
		}
	}
	for _, f := range o.Files {
		if err := l.file(f.Src, f.Dst, f.Mode); err != nil {
			return "", err
		}
	}
	cj, _ := json.MarshalIndent(cfg, "", "  ")
	if err := l.data(ConfigPath[1:], cj); err != nil {
		return "", err
	}
	extra := filepath.Join(o.Work, "extra.cpio")
	if err := l.pack(ctx, extra); err != nil {
		return "", err
	}
	initrd := filepath.Join(o.Work, "initrd.img")
	return initrd, concat(initrd, base, extra)
}

// goBuild runs go build/test -c with a static toolchain setting.
func goBuild(ctx context.Context, root string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// concat joins initramfs archives, each padded with zeros to a multiple of
// 512 bytes: the kernel skips zeros between archives and reads an
// uncompressed one only at a 4-byte boundary.
func concat(dst string, srcs ...string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	var n int64
	for _, s := range srcs {
		in, err := os.Open(s)
		if err != nil {
			return err
		}
		m, err := io.Copy(out, in)
		in.Close()
		if err != nil {
			return err
		}
		n += m
		if pad := (512 - n%512) % 512; pad > 0 {
			if _, err := out.Write(make([]byte, pad)); err != nil {
				return err
			}
			n += pad
		}
	}
	return out.Close()
}

func sparse(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
