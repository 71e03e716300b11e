// Command init is PID 1 of byoi's test VM (see package vmtest): it mounts
// the API file systems, loads the kernel modules listed in
// /etc/vmtest/config.json, waits for the disks, runs each Go test binary
// with -test.v, its output on the console between "=== VMTEST BEGIN" and
// "=== VMTEST END <name> rc=<code>" markers, then powers the VM off.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/e2e/vmtest"
	"github.com/byoi/byoi/initramfs/kmod"
)

func main() {
	for _, m := range []struct{ fs, dir, opts string }{
		{"proc", "/proc", ""}, {"sysfs", "/sys", ""}, {"devtmpfs", "/dev", "mode=0755"},
		{"tmpfs", "/run", "mode=0755"}, {"tmpfs", "/tmp", "mode=1777"}, {"devpts", "/dev/pts", "mode=0620,ptmxmode=0666"},
	} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, 0, m.opts); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Printf("vmtest: mount %s: %v\n", m.dir, err)
		}
	}
	if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		for fd := 0; fd <= 2; fd++ {
			unix.Dup3(int(c.Fd()), fd, 0)
		}
	}
	defer poweroff()
	var cfg vmtest.Config
	b, err := os.ReadFile(vmtest.ConfigPath)
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		fmt.Printf("vmtest: config: %v\n", err)
		return
	}
	loadModules(cfg.Modules)
	if lo, err := netlink.LinkByName("lo"); err == nil {
		netlink.LinkSetUp(lo) // the tests' servers listen on 127.0.0.1
	}
	waitDisks(cfg.Disks)
	os.MkdirAll("/etc", 0o755)
	os.WriteFile("/etc/resolv.conf", []byte("nameserver 127.0.0.1\n"), 0o644)
	for _, t := range cfg.Tests {
		fmt.Printf("=== VMTEST BEGIN %s\n", t.Name)
		start := time.Now()
		cmd := exec.Command(filepath.Join("/tests", t.Name+".test"), append([]string{"-test.v", "-test.count=1", "-test.timeout=30m"}, t.Args...)...)
		cmd.Dir = filepath.Join("/tests", t.Name)
		cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
			"BYOI_TEST_VM=1", "BYOI_INTEGRATION=1", "TMPDIR=/tmp"}, t.Env...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
		err := cmd.Run()
		rc := 0
		if err != nil {
			rc = -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				rc = ee.ExitCode()
			} else {
				fmt.Printf("vmtest: %v\n", err)
			}
		}
		fmt.Printf("=== VMTEST END %s rc=%d seconds=%.1f\n", t.Name, rc, time.Since(start).Seconds())
	}
	fmt.Println("=== VMTEST DONE")
}

// loadModules loads modules with their dependencies (built-in ones are
// not in modules.dep and are skipped).
func loadModules(names []string) {
	var uts unix.Utsname
	unix.Uname(&uts)
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(uts.Release[:]))
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		fmt.Printf("vmtest: modules: %v\n", err)
		return
	}
	deps, err := kmod.ParseDep(f)
	f.Close()
	if err != nil {
		fmt.Printf("vmtest: modules: %v\n", err)
		return
	}
	done := map[string]bool{}
	for _, n := range names {
		paths, err := deps.Closure([]string{n})
		if err != nil {
			fmt.Printf("vmtest: module %s: %v (built in?)\n", n, err)
			continue
		}
		for _, p := range paths {
			if done[p] {
				continue
			}
			done[p] = true
			b, err := kmod.ReadFile(filepath.Join(dir, p))
			if err == nil {
				err = unix.InitModule(b, "")
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				fmt.Printf("vmtest: load %s: %v\n", p, err)
			}
		}
	}
}

// waitDisks waits up to 20 s for the disks to appear.
func waitDisks(disks []string) {
	deadline := time.Now().Add(20 * time.Second)
	for _, d := range disks {
		for {
			if _, err := os.Stat(d); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	b, _ := os.ReadFile("/proc/partitions")
	fmt.Printf("vmtest: kernel %s, disks:\n%s", strings.TrimSpace(release()), b)
}

func release() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return string(b)
}

func poweroff() {
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}
