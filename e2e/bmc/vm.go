// Package bmc holds the test BMCs byoi's power drivers are checked against,
// each in front of a real QEMU VM:
//
//   - IPMISim: OpenIPMI's ipmi_sim (IPMI v2 over LAN) whose chassis_control
//     script starts and stops a daemonized QEMU and turns a pending `pxe`
//     boot device into a one-time network-first boot;
//   - RedfishService: a Redfish service of its own (ServiceRoot, Systems, the
//     system, Reset action, Boot override PATCH, sessions) that maps power
//     and one-time boot onto QMP, as OpenStack's sushy-tools maps them onto
//     libvirt; Debian's redfishtool is its second client;
//   - QMPVM: a QEMU VM controlled through its QMP socket.
//
// VMs run under TCG inside a network namespace the test made, one at a time
// (LockVMs takes /tmp/byoi-vm.lock). A VM's first boot choice is read from
// its serial log (FirstBoot): OVMF names the boot option it loads.
//
//	vm, err := bmc.StartQMPVM(bmc.VMSpec{Dir: dir, OVMFCode: code, OVMFVars: vars, Netns: ns})
//	d, _ := power.New(power.Config{Driver: "qmp", Address: vm.QMP}, power.Options{})
package bmc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// VMSpec describes a small test VM: UEFI (OVMF), a NIC without option ROM
// (OVMF's own PXE client) and a blank disk. The persistent boot order is
// disk first, network second: a PXE boot only happens when a one-time
// override asks for it (or the disk fails, which FirstBoot tells apart).
type VMSpec struct {
	Dir      string // working directory: disk, vars copy, serial log, sockets
	QEMU     string // default qemu-system-x86_64
	OVMFCode string // OVMF_CODE_4M.fd
	OVMFVars string // OVMF_VARS_4M.fd (copied once into Dir)
	Netns    string // namespace to run QEMU in ("" = none: no NIC backend but a user-less hub)
	Tap      string // tap device in the namespace; "" = a NIC with no backend
	MAC      string // default 52:54:00:12:34:56
	MemoryMB int    // default 256
	Disk     string // raw disk image; default a blank 64 MiB disk.raw in Dir
	// ExtraArgs are appended to QEMU's arguments (e.g. "-machine" options
	// are not allowed twice; use this for extra devices).
	ExtraArgs []string
}

func (s *VMSpec) defaults() error {
	if s.Dir == "" || s.OVMFCode == "" || s.OVMFVars == "" {
		return fmt.Errorf("vm spec: Dir, OVMFCode and OVMFVars are required")
	}
	if s.QEMU == "" {
		s.QEMU = "qemu-system-x86_64"
	}
	if s.MAC == "" {
		s.MAC = "52:54:00:12:34:56"
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = 256
	}
	return nil
}

// Serial is the VM's serial log (appended across QEMU runs).
func (s VMSpec) Serial() string { return filepath.Join(s.Dir, "serial.log") }

func (s VMSpec) disk() string {
	if s.Disk != "" {
		return s.Disk
	}
	return filepath.Join(s.Dir, "disk.raw")
}
func (s VMSpec) vars() string { return filepath.Join(s.Dir, "vars.fd") }

// prepare creates the blank disk and the vars copy once.
func (s VMSpec) prepare() error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(s.disk()); os.IsNotExist(err) {
		f, err := os.Create(s.disk())
		if err != nil {
			return err
		}
		if err := f.Truncate(64 << 20); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if _, err := os.Stat(s.vars()); os.IsNotExist(err) {
		b, err := os.ReadFile(s.OVMFVars)
		if err != nil {
			return err
		}
		if err := os.WriteFile(s.vars(), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Args returns QEMU's arguments (without the binary) for the VM. nicFirst
// swaps the bootindexes so that the network card is tried first.
func (s VMSpec) Args(nicFirst bool) []string {
	nicIdx, diskIdx := 2, 1
	if nicFirst {
		nicIdx, diskIdx = 1, 2
	}
	netdev := "hubport,id=n0,hubid=0"
	if s.Tap != "" {
		netdev = "tap,id=n0,ifname=" + s.Tap + ",script=no,downscript=no"
	}
	return append([]string{
		"-machine", "q35", "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "1",
		"-m", strconv.Itoa(s.MemoryMB), "-nodefaults", "-display", "none",
		"-chardev", "file,id=ser0,path=" + s.Serial() + ",append=on", "-serial", "chardev:ser0",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + s.OVMFCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + s.vars(),
		"-netdev", netdev,
		"-device", "virtio-net-pci,id=nic0,netdev=n0,mac=" + s.MAC + ",romfile=,bootindex=" + strconv.Itoa(nicIdx),
		"-drive", "if=none,id=d0,format=raw,cache=unsafe,file=" + s.disk(),
		"-device", "virtio-blk-pci,id=disk0,drive=d0,bootindex=" + strconv.Itoa(diskIdx),
	}, s.ExtraArgs...)
}

// command wraps QEMU's argv in `ip netns exec` when the VM has a namespace.
func (s VMSpec) command(args []string) []string {
	argv := append([]string{s.QEMU}, args...)
	if s.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", s.Netns}, argv...)
	}
	return argv
}

// quoteSh quotes a word for a POSIX shell.
func quoteSh(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// killPID ends a process the test started and waits up to 5 s for it to go.
func killPID(pid int) {
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 50; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mustLookPath reports a missing tool with the package that has it.
func mustLookPath(tool, pkg string) error {
	if _, err := exec.LookPath(tool); err != nil {
		return fmt.Errorf("%s is missing (Debian package %s; scripts/install-deps.sh test)", tool, pkg)
	}
	return nil
}
