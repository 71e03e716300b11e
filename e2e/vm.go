package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Firmware selects how the VM boots.
type Firmware int

const (
	// UEFI: trixie OVMF; the NIC has no option ROM, OVMF's own PXE client
	// does the first DHCP + TFTP.
	UEFI Firmware = iota
	// BIOS: bookworm SeaBIOS with QEMU's default (2019) iPXE NIC ROM as the
	// "vendor PXE", which chains byoi's undionly.kpxe.
	BIOS
)

func (f Firmware) String() string {
	if f == BIOS {
		return "bios"
	}
	return "uefi"
}

// VM is one QEMU run. Serial output goes to a log file and is scanned
// line by line for markers.
type VM struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	log     string
	started time.Time

	mu    sync.Mutex
	lines []string
	seen  chan struct{} // closed and replaced on every new line
	done  chan struct{}
	err   error
}

// VMConfig describes a VM.
type VMConfig struct {
	Firmware Firmware
	MAC      string
	Disk     string // raw disk image file
	Vars     string // OVMF vars copy (UEFI); kept across runs of one machine
	Netns    string
	Tap      string
	MemoryMB int
	// ExtraDisks are more raw disks (virtio, after Disk: vdb, vdc, …).
	ExtraDisks []string
}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r`)

// StartVM launches QEMU under TCG inside the namespace.
func (h *Harness) StartVM(t *testing.T, name string, c VMConfig) *VM {
	t.Helper()
	if c.MemoryMB == 0 {
		c.MemoryMB = 1024
	}
	args := []string{"netns", "exec", c.Netns, "qemu-system-x86_64",
		"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "1", "-m", fmt.Sprint(c.MemoryMB),
		"-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-netdev", "tap,id=n0,ifname=" + c.Tap + ",script=no,downscript=no",
		"-drive", "if=none,id=d0,format=raw,cache=unsafe,file=" + c.Disk,
		"-device", "virtio-blk-pci,drive=d0,bootindex=2",
	}
	for i, d := range c.ExtraDisks {
		args = append(args, "-drive", fmt.Sprintf("if=none,id=x%d,format=raw,cache=unsafe,file=%s", i, d),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=x%d", i))
	}
	switch c.Firmware {
	case UEFI:
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+h.OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+c.Vars,
			"-device", "virtio-net-pci,netdev=n0,mac="+c.MAC+",romfile=,bootindex=1")
	case BIOS:
		args[5] = "q35,graphics=off" // SeaBIOS prints to serial only without graphics
		args = append(args, "-device", "virtio-net-pci,netdev=n0,mac="+c.MAC+",bootindex=1")
	}
	logPath := filepath.Join(h.Artifacts, name+".serial.log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = lf
	vm := &VM{t: t, name: name, cmd: cmd, log: logPath, seen: make(chan struct{}), done: make(chan struct{})}
	vm.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	t.Logf("vm %s: qemu pid %d (%s), serial log %s", name, cmd.Process.Pid, c.Firmware, logPath)
	go vm.read(io.TeeReader(stdout, lf), lf)
	t.Cleanup(func() { vm.Kill() })
	return vm
}

func (vm *VM) read(r io.Reader, lf *os.File) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := ansiRE.ReplaceAllString(sc.Text(), "")
		vm.mu.Lock()
		vm.lines = append(vm.lines, line)
		close(vm.seen)
		vm.seen = make(chan struct{})
		vm.mu.Unlock()
	}
	err := vm.cmd.Wait()
	lf.Close()
	vm.mu.Lock()
	vm.err = err
	close(vm.done)
	vm.mu.Unlock()
}

// Wait blocks until a serial line contains marker, and returns that line.
// It fails the test on timeout or when QEMU exits first.
func (vm *VM) Wait(marker string, timeout time.Duration) string {
	vm.t.Helper()
	line, err := vm.waitAny([]string{marker}, timeout)
	if err != nil {
		vm.t.Fatalf("vm %s: waiting for %q: %v (serial log: %s)\n%s", vm.name, marker, err, vm.log, vm.tail(25))
	}
	return line
}

// WaitAny returns the first line containing any of the markers.
func (vm *VM) WaitAny(markers []string, timeout time.Duration) (string, error) {
	return vm.waitAny(markers, timeout)
}

func (vm *VM) waitAny(markers []string, timeout time.Duration) (string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	next := 0
	for {
		vm.mu.Lock()
		for ; next < len(vm.lines); next++ {
			for _, m := range markers {
				if strings.Contains(vm.lines[next], m) {
					l := vm.lines[next]
					vm.mu.Unlock()
					return l, nil
				}
			}
		}
		seen, done := vm.seen, vm.done
		vm.mu.Unlock()
		select {
		case <-seen:
		case <-done:
			vm.mu.Lock()
			more := next < len(vm.lines)
			vm.mu.Unlock()
			if !more {
				return "", fmt.Errorf("qemu exited (%v)", vm.err)
			}
		case <-deadline.C:
			return "", fmt.Errorf("timed out after %s", timeout)
		}
	}
}

// Exited waits for QEMU to exit (the guest powered off or rebooted under
// -no-reboot) and returns its error.
func (vm *VM) Exited(timeout time.Duration) error {
	select {
	case <-vm.done:
		return vm.err
	case <-time.After(timeout):
		return fmt.Errorf("vm %s still running after %s", vm.name, timeout)
	}
}

// Since is the time since QEMU started.
func (vm *VM) Since() time.Duration { return time.Since(vm.started).Round(100 * time.Millisecond) }

// Kill stops QEMU (by PID) if it still runs.
func (vm *VM) Kill() {
	select {
	case <-vm.done:
		return
	default:
	}
	_ = vm.cmd.Process.Kill()
	select {
	case <-vm.done:
	case <-time.After(10 * time.Second):
	}
}

// Lines returns a copy of the serial lines so far.
func (vm *VM) Lines() []string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return append([]string(nil), vm.lines...)
}

func (vm *VM) tail(n int) string {
	l := vm.Lines()
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// CommandContext is exec.CommandContext with the output captured for errors.
func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
