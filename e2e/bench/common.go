package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/byoi/byoi/initramfs/image"
)

// fileServer serves the work directory on 127.0.0.1 (Range, Last-Modified),
// the same server for byoi and for curl.
type fileServer struct {
	base string
	srv  *http.Server
}

func serveDir(dir string) (*fileServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("image server: %w", err)
	}
	fs := &fileServer{base: "http://" + ln.Addr().String(), srv: &http.Server{Handler: http.FileServer(http.Dir(dir))}}
	go func() { _ = fs.srv.Serve(ln) }()
	return fs, nil
}

func (fs *fileServer) url(path string) string { return fs.base + "/" + filepath.Base(path) }

func (fs *fileServer) close() { _ = fs.srv.Close() }

// targets makes fresh target files (and loop devices over them) on tmpfs,
// so that neither tool waits on this machine's disk: the benchmark compares
// the tools, not the disk.
type targets struct{ dir string }

func newTargets() (*targets, error) {
	dir := filepath.Join("/dev/shm", fmt.Sprintf("byoi-bench-%d", os.Getpid()))
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("byoi-bench-target-%d", os.Getpid()))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &targets{dir: dir}, nil
}

// file returns a new sparse file of size bytes; any previous one is removed.
func (t *targets) file(size int64) (string, error) {
	p := filepath.Join(t.dir, "target.img")
	_ = os.Remove(p)
	f, err := os.Create(p)
	if err != nil {
		return "", err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return "", err
	}
	return p, f.Close()
}

// loop attaches a fresh file of size bytes to a loop device.
func (t *targets) loop(size int64) (dev string, detach func(), err error) {
	p, err := t.file(size)
	if err != nil {
		return "", nil, err
	}
	out, err := exec.Command("losetup", "--find", "--show", p).Output()
	if err != nil {
		return "", nil, fmt.Errorf("losetup: %w", err)
	}
	dev = strings.TrimSpace(string(out))
	return dev, func() { _ = exec.Command("losetup", "-d", dev).Run() }, nil
}

func (t *targets) close() { _ = os.RemoveAll(t.dir) }

func canLoop() bool {
	_, err := exec.LookPath("losetup")
	return err == nil && os.Geteuid() == 0
}

// byoiInstall runs the installer's image pipeline into path and returns the
// elapsed time, including the final sync.
func byoiInstall(ctx context.Context, o image.Options, path string) (time.Duration, image.Result, error) {
	t0 := time.Now()
	t, err := image.OpenTarget(path)
	if err != nil {
		return 0, image.Result{}, err
	}
	defer t.Close()
	res, err := image.Install(ctx, o, t)
	return time.Since(t0), res, err
}

// shell runs a command line with bash -o pipefail and returns its duration.
func shell(ctx context.Context, line string) (time.Duration, error) {
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", line)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", line, err, strings.TrimSpace(string(out)))
	}
	return time.Since(t0), nil
}

// fsync flushes a file or device (what byoi's Install does at its end).
func fsync(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// best runs the pair reps times, alternating who goes first, and returns
// each one's fastest time in seconds: the least disturbed by the machine's
// other tenants.
func best(reps int, a, b func() (time.Duration, error)) (float64, float64, error) {
	var ta, tb []float64
	for i := 0; i < reps; i++ {
		first, second, fa, fb := a, b, &ta, &tb
		if i%2 == 1 {
			first, second, fa, fb = b, a, &tb, &ta
		}
		for _, step := range []struct {
			fn  func() (time.Duration, error)
			out *[]float64
		}{{first, fa}, {second, fb}} {
			d, err := step.fn()
			if err != nil {
				return 0, 0, err
			}
			*step.out = append(*step.out, d.Seconds())
		}
	}
	return slices.Min(ta), slices.Min(tb), nil
}

// sameContent compares the first n bytes of two files (or devices).
func sameContent(a, b string, n int64) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	ba, bb := make([]byte, 4*mib), make([]byte, 4*mib)
	for off := int64(0); off < n; off += int64(len(ba)) {
		c := min(int64(len(ba)), n-off)
		if _, err := fa.ReadAt(ba[:c], off); err != nil {
			return fmt.Errorf("read %s: %w", a, err)
		}
		if _, err := fb.ReadAt(bb[:c], off); err != nil {
			return fmt.Errorf("read %s: %w", b, err)
		}
		if string(ba[:c]) != string(bb[:c]) {
			return fmt.Errorf("%s and %s differ in the MiB at %d", a, b, off/mib*mib)
		}
	}
	return nil
}

// imageFixture is the setup of the image benchmarks (P1-P3): the images in
// the work dir, served over HTTP from 127.0.0.1, and a place for targets.
func imageFixture(c *config) (images, *fileServer, *targets, error) {
	im := images{dir: c.work}
	srv, err := serveDir(c.work)
	if err != nil {
		return im, nil, nil, err
	}
	tg, err := newTargets()
	if err != nil {
		srv.close()
		return im, nil, nil, err
	}
	return im, srv, tg, nil
}
