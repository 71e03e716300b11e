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

// targets makes target files (and loop devices over them) on tmpfs, so
// that neither tool waits on this machine's disk: the benchmark compares
// the tools, not the disk.
//
// A case's first, untimed run of each side writes a fresh sparse file and
// is checked against the raw image; the timed runs write over the file the
// previous run left, as an install writes over a disk's old contents. On
// this VM that is also what keeps runs comparable: the first write into
// guest memory the host has not backed costs 4-8 s of system time per GiB,
// and the guest hands freed memory back to the host within seconds
// (virtio-balloon free page reporting), so a fresh file made each run cost
// that or not depending on what ran before it, and one slow run in three
// decided a verdict (docs/performance.md).
// targets are the files and loop devices the P1 and P2 runs write: in dir
// (tmpfs), and for the "disk" rows in disk (the work directory, on this
// machine's disk).
type targets struct{ dir, disk string }

func newTargets(work string) (*targets, error) {
	dir := filepath.Join("/dev/shm", fmt.Sprintf("byoi-bench-%d", os.Getpid()))
	if st, err := os.Stat("/dev/shm"); err != nil || !st.IsDir() {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("byoi-bench-target-%d", os.Getpid()))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	disk := filepath.Join(work, fmt.Sprintf("disk-target-%d", os.Getpid()))
	if err := os.MkdirAll(disk, 0o700); err != nil {
		return nil, err
	}
	return &targets{dir: dir, disk: disk}, nil
}

// file returns a new sparse file of size bytes in dir; any previous one is
// removed.
func (t *targets) file(dir string, size int64) (string, error) {
	p := filepath.Join(dir, "target.img")
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

// make returns the target of size bytes for a row's target kind: "file", a
// file on tmpfs; "loop" and "loop, page cache", a loop device over one;
// "disk", a loop device with direct I/O over a file on the machine's disk
// (its writes wait for the disk, as a real one's do). fresh makes a new
// sparse file; otherwise the file the previous run wrote is written over
// (a new one is made if it is missing or of another size). done detaches
// the loop device.
func (t *targets) make(size int64, kind string, fresh bool) (path string, done func() error, err error) {
	dir := t.dir
	if kind == "disk" {
		dir = t.disk
	}
	path = filepath.Join(dir, "target.img")
	if st, err := os.Stat(path); fresh || err != nil || st.Size() != size {
		if path, err = t.file(dir, size); err != nil {
			return "", nil, err
		}
	}
	if kind == "file" {
		return path, func() error { return nil }, nil
	}
	args := []string{"--find", "--show", path}
	if kind == "disk" {
		args = append(args, "--direct-io=on")
	}
	out, err := exec.Command("losetup", args...).Output()
	if err != nil {
		return "", nil, fmt.Errorf("losetup: %w", err)
	}
	dev := strings.TrimSpace(string(out))
	return dev, func() error { return exec.Command("losetup", "-d", dev).Run() }, nil
}

// reused opens a file the previous run wrote, to be written over in place
// (no truncation, so no memory is freed and allocated again); fresh, or
// when it does not exist, it is created empty.
func (t *targets) reused(name string, fresh bool) (*os.File, error) {
	p := filepath.Join(t.dir, name)
	if fresh {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o600)
}

// cleanup runs done at the end of a run and keeps its error.
func cleanup(err *error, done func() error) { *err = errors.Join(*err, done()) }

func (t *targets) close() {
	_ = os.RemoveAll(t.dir)
	_ = os.RemoveAll(t.disk)
}

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
	tg, err := newTargets(c.work)
	if err != nil {
		srv.close()
		return im, nil, nil, err
	}
	return im, srv, tg, nil
}

// rotate runs every side n+1 times, rotating which goes first in each run
// (timed run i, from 1, starts with side i-1 mod len); run 0 is the
// warm-up (fresh targets, outputs checked) and is not kept. It returns
// each side's wall times
// and CPU times (user + system of the processes it ran and waited for:
// getrusage(RUSAGE_CHILDREN); the long-running image server is not
// counted) in seconds, in run order.
func rotate(n int, sides ...func(run int) (time.Duration, error)) (wall, cpu [][]float64, err error) {
	wall, cpu = make([][]float64, len(sides)), make([][]float64, len(sides))
	for run := range n + 1 {
		for k := range sides {
			i := (max(run-1, 0) + k) % len(sides)
			c0 := childrenCPU()
			d, err := sides[i](run)
			if err != nil {
				return nil, nil, err
			}
			if run == 0 {
				continue
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
