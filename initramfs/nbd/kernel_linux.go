package nbd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// ioctls of the kernel's NBD driver (linux/nbd.h).
const (
	ioctlSetSock       = 0xab00
	ioctlSetBlkSize    = 0xab01
	ioctlDoIt          = 0xab03
	ioctlClearSock     = 0xab04
	ioctlClearQue      = 0xab05
	ioctlSetSizeBlocks = 0xab07
	ioctlDisconnect    = 0xab08
	ioctlSetTimeout    = 0xab09
	ioctlSetFlags      = 0xab0a
)

// BlockSize is the logical block size the kernel device gets: 512, so
// that any file system mounts (one with 1 KiB blocks refuses a device of
// 4 KiB sectors).
const BlockSize = 512

// Device is an NBD device of the kernel connected to an in-process Server.
type Device struct {
	Path   string
	Server *Server

	f      *os.File
	doIt   chan error // NBD_DO_IT's result
	served chan error // the server's result
}

// Attach connects the kernel NBD device at path (e.g. /dev/nbd0, which
// needs the nbd module) to a Server for exp, read-only, through a Unix
// socket pair. exp.Size must be a multiple of BlockSize (qcow2 virtual
// sizes and partitions are multiples of 512; a partial block is cut). It returns
// once the kernel has the device; Close disconnects.
func Attach(ctx context.Context, path string, exp Export, opts ...func(*Server)) (*Device, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("nbd: open %s: %w", path, err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("nbd: socket pair: %w", err)
	}
	kernelEnd, ourEnd := fds[0], os.NewFile(uintptr(fds[1]), "nbd-server")
	fd := int(f.Fd())
	setup := []struct {
		name string
		req  uint
		arg  uintptr
	}{
		{"NBD_CLEAR_SOCK", ioctlClearSock, 0},
		{"NBD_SET_BLKSIZE", ioctlSetBlkSize, BlockSize},
		{"NBD_SET_SIZE_BLOCKS", ioctlSetSizeBlocks, uintptr(exp.Size / BlockSize)},
		{"NBD_SET_FLAGS", ioctlSetFlags, tflagHasFlags | tflagReadOnly | tflagSendFlush},
		// No timeout: a slow download makes the kernel wait, not fail.
		{"NBD_SET_TIMEOUT", ioctlSetTimeout, 0},
		{"NBD_SET_SOCK", ioctlSetSock, uintptr(kernelEnd)},
	}
	for _, s := range setup {
		if err := ioctl(fd, s.req, s.arg); err != nil {
			unix.Close(kernelEnd)
			ourEnd.Close()
			f.Close()
			return nil, fmt.Errorf("nbd: %s on %s: %w", s.name, path, err)
		}
	}
	d := &Device{Path: path, Server: &Server{Export: exp}, f: f, doIt: make(chan error, 1), served: make(chan error, 1)}
	for _, o := range opts {
		o(d.Server)
	}
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		// Blocks until NBD_DISCONNECT or a dead socket.
		err := ioctl(fd, ioctlDoIt, 0)
		_ = ioctl(fd, ioctlClearQue, 0)
		_ = ioctl(fd, ioctlClearSock, 0)
		d.doIt <- err
	}()
	// The kernel holds its own reference to the socket from here on.
	unix.Close(kernelEnd)
	go func() { d.served <- d.Server.Transmit(ourEnd); ourEnd.Close() }()
	if err := waitSize(ctx, path, exp.Size/BlockSize*BlockSize); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// waitSize waits until the block device reports the expected size (the
// kernel sets it when NBD_DO_IT starts).
func waitSize(ctx context.Context, path string, want int64) error {
	name := filepath.Base(path)
	for i := 0; ; i++ {
		b, err := os.ReadFile("/sys/block/" + name + "/size")
		if err == nil {
			var sectors int64
			if _, err := fmt.Sscan(string(b), &sectors); err == nil && sectors*512 == want {
				return nil
			}
		}
		if i > 200 {
			return fmt.Errorf("nbd: %s did not come up with %d bytes", path, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Close disconnects the device and waits for the kernel and the server to
// let go. The device must not be mounted any more.
func (d *Device) Close() error {
	err := ioctl(int(d.f.Fd()), ioctlDisconnect, 0)
	var errs []error
	if err != nil && !errors.Is(err, unix.EINVAL) {
		errs = append(errs, fmt.Errorf("nbd: NBD_DISCONNECT on %s: %w", d.Path, err))
	}
	select {
	case <-d.doIt:
	case <-time.After(30 * time.Second):
		errs = append(errs, fmt.Errorf("nbd: %s still connected 30 s after NBD_DISCONNECT", d.Path))
	}
	select {
	case serr := <-d.served:
		if serr != nil {
			errs = append(errs, serr)
		}
	case <-time.After(5 * time.Second):
		errs = append(errs, fmt.Errorf("nbd: server of %s did not stop", d.Path))
	}
	errs = append(errs, d.f.Close())
	return errors.Join(errs...)
}

func ioctl(fd int, req uint, arg uintptr) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), arg)
	if e != 0 {
		return e
	}
	return nil
}

// FreeDevice returns the first /dev/nbdN that is not connected (its
// /sys/block/nbdN/pid is absent), or an error when the nbd module is not
// loaded or every device is busy.
func FreeDevice() (string, error) {
	for i := 0; i < 256; i++ {
		name := fmt.Sprintf("nbd%d", i)
		if _, err := os.Stat("/sys/block/" + name); err != nil {
			if i == 0 {
				return "", fmt.Errorf("nbd: no /sys/block/nbd0: is the nbd kernel module loaded? %w", err)
			}
			break
		}
		if _, err := os.Stat("/sys/block/" + name + "/pid"); os.IsNotExist(err) {
			return "/dev/" + name, nil
		}
	}
	return "", errors.New("nbd: every NBD device is in use")
}
