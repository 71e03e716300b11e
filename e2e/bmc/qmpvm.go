package bmc

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// QMPVM is a QEMU process controlled through its QMP socket. It starts
// powered off (-S: QMP status prelaunch) and keeps running when the guest
// powers off (-no-shutdown), as byoi's qmp driver expects.
type QMPVM struct {
	Spec VMSpec
	QMP  string // the driver's address: unix:/…/qmp.sock
	cmd  *exec.Cmd
	done chan struct{}
}

// StartQMPVM starts the VM's QEMU process, powered off.
func StartQMPVM(spec VMSpec) (*QMPVM, error) {
	if err := spec.defaults(); err != nil {
		return nil, err
	}
	if err := mustLookPath(spec.QEMU, "qemu-system-x86"); err != nil {
		return nil, err
	}
	if err := spec.prepare(); err != nil {
		return nil, err
	}
	sock := filepath.Join(spec.Dir, "qmp.sock")
	_ = os.Remove(sock)
	args := append(spec.Args(false), "-S", "-no-shutdown", "-qmp", "unix:"+sock+",server=on,wait=off")
	argv := spec.command(args)
	cmd := exec.Command(argv[0], argv[1:]...)
	logf, err := os.Create(filepath.Join(spec.Dir, "qemu.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	vm := &QMPVM{Spec: spec, QMP: "unix:" + sock, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(vm.done) }()
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			return vm, nil
		}
		select {
		case <-vm.done:
			b, _ := os.ReadFile(filepath.Join(spec.Dir, "qemu.log"))
			return nil, fmt.Errorf("qemu exited at start: %s", strings.TrimSpace(string(b)))
		case <-time.After(50 * time.Millisecond):
		}
		if i > 200 {
			vm.Close()
			return nil, fmt.Errorf("qemu did not create %s within 10 s", sock)
		}
	}
}

// PID is QEMU's process id (or ip netns exec's, which execs QEMU).
func (vm *QMPVM) PID() int { return vm.cmd.Process.Pid }

// Close kills QEMU by its PID and waits for it.
func (vm *QMPVM) Close() {
	killPID(vm.cmd.Process.Pid)
	select {
	case <-vm.done:
	case <-time.After(5 * time.Second):
	}
}

// Serial log reading: OVMF (release build) writes `BdsDxe: failed to load
// Boot0001 "UEFI Misc Device" from …: Not Found` for a disk option that does
// not boot, `>>Start PXE over IPv4.` when it tries the network, and (debug
// builds) `BdsDxe: loading Boot0002 "UEFI PXEv4 …"` before each option.
var (
	ansiRE    = regexp.MustCompile(`\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][A-Z0-9]|\r`)
	loadingRE = regexp.MustCompile(`BdsDxe: (?:loading|failed to load|starting) Boot[0-9A-F]{4} "([^"]*)"|>>Start (PXE|HTTP Boot) over`)
)

// Boot is the first boot option a firmware run tried.
type Boot string

// Boot kinds FirstBoot reports.
const (
	BootNetwork Boot = "network"
	BootDisk    Boot = "disk"
)

// SerialSize is the serial log's current length: pass it to FirstBoot to
// look only at what comes after.
func SerialSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// FirstBoot waits until the firmware run that starts after offset in the
// serial log tries its first boot option and says whether it is the network
// (an OVMF "UEFI PXEv4/HTTPv4" option) or the disk.
func FirstBoot(path string, offset int64, timeout time.Duration) (Boot, string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, line, ok := firstBootIn(path, offset); ok {
			return b, line, nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("no boot option tried in %s within %v after byte %d", path, timeout, offset)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func firstBootIn(path string, offset int64) (Boot, string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return "", "", false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := ansiRE.ReplaceAllString(sc.Text(), "")
		m := loadingRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[2] != "" || strings.Contains(m[1], "PXE") || strings.Contains(m[1], "HTTP") {
			return BootNetwork, line, true
		}
		return BootDisk, line, true
	}
	return "", "", false
}
