package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

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

// make returns a fresh target of size bytes: a file, or a loop device
// over one; done detaches the loop device.
func (t *targets) make(size int64, loop bool) (path string, done func(), err error) {
	if loop {
		return t.loop(size)
	}
	path, err = t.file(size)
	return path, func() {}, err
}

func (t *targets) close() { _ = os.RemoveAll(t.dir) }

func canLoop() bool {
	_, err := exec.LookPath("losetup")
	return err == nil && os.Geteuid() == 0
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
// the work dir, served over HTTP from 127.0.0.1 by a child process, and a
// place for targets.
func imageFixture(ctx context.Context, c *config) (images, *imageServer, *targets, error) {
	im := images{dir: c.work, sums: map[string]string{}, prepare: c.prepare}
	srv, err := startImageServer(ctx, c.work)
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

// rotate runs every side n times, rotating which goes first in each run
// (run i starts with side i mod len), and returns each side's wall times
// and CPU times (user + system of the processes it ran and waited for:
// getrusage(RUSAGE_CHILDREN); the long-running image server is not
// counted) in seconds, in run order.
func rotate(n int, sides ...func(run int) (time.Duration, error)) (wall, cpu [][]float64, err error) {
	wall, cpu = make([][]float64, len(sides)), make([][]float64, len(sides))
	for run := range n {
		for k := range sides {
			i := (run + k) % len(sides)
			c0 := childrenCPU()
			d, err := sides[i](run)
			if err != nil {
				return nil, nil, err
			}
			wall[i] = append(wall[i], d.Seconds())
			cpu[i] = append(cpu[i], (childrenCPU() - c0).Seconds())
		}
	}
	return wall, cpu, nil
}

// childrenCPU is the CPU time of the children this process has waited for.
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
