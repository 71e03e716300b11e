package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/initramfs/rescue"
)

// Main is the installer's /init (and a debugging entry point when run as
// an ordinary process with the command line in BYOI_CMDLINE). As PID 1 it
// never returns: after a successful install it reboots; after a failure it
// stays on the console.
func Main() {
	pid1 := os.Getpid() == 1
	if pid1 {
		initSystem()
	}
	SetMemoryLimit()
	console := io.Writer(os.Stderr)
	log := slog.New(slog.NewTextHandler(console, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmdline := os.Getenv("BYOI_CMDLINE")
	if cmdline == "" {
		b, err := os.ReadFile("/proc/cmdline")
		if err != nil {
			fatal(pid1, false, "installer", fmt.Errorf("read kernel command line: %w", err))
		}
		cmdline = string(b)
	}
	if _, err := os.Stat(caBundle); err == nil {
		os.Setenv("SSL_CERT_FILE", caBundle)
	}
	if pid1 && os.Getenv("PATH") == "" {
		// The kernel gives init no PATH; the tools layer's programs and the
		// rescue system's shells need one.
		os.Setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
	}
	cfg, _ := ParseConfig(ParseCmdline(cmdline))
	rescueMode := cfg.Mode == agentapi.ModeRescue
	ctx := context.Background()
	env := Env{Cmdline: cmdline, Logger: log, Reboot: reboot, Console: console,
		SSH: rescue.System{Log: log, ReapAll: pid1}}
	if pid1 {
		env.Prepare = func(ctx context.Context, c Config) error { return prepare(ctx, c, log) }
		if rescueMode {
			env.Prepare = func(ctx context.Context, c Config) error { return prepareRescue(ctx, c, log) }
		}
	} else {
		env.Reboot = func(poweroff bool) error {
			log.Info("not PID 1: not rebooting", "poweroff", poweroff)
			return nil
		}
	}
	err := Run(ctx, env)
	if err == nil && !rescueMode {
		if pid1 { // reboot returned without rebooting
			fatal(pid1, false, "installer", errors.New("reboot did not happen"))
		}
		os.Exit(0)
	}
	if rescueMode {
		if err == nil {
			err = errors.New("sshd stopped")
		}
		fatal(pid1, cfg.Debug, "rescue system", err)
	}
	fatal(pid1, cfg.Debug, "installer", err)
}

const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// initSystem mounts the API file systems and makes /dev/console the
// standard streams.
func initSystem() {
	for _, m := range []struct{ fs, dir, opts string }{
		{"proc", "/proc", ""},
		{"sysfs", "/sys", ""},
		{"devtmpfs", "/dev", "mode=0755"},
		{"tmpfs", "/run", "mode=0755"},
		{"tmpfs", "/tmp", "mode=1777"},
	} {
		_ = os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.fs, m.dir, m.fs, unix.MS_NOSUID, m.opts); err != nil && !errors.Is(err, unix.EBUSY) {
			fmt.Fprintf(os.Stderr, "byoi-agent: mount %s on %s: %v\n", m.fs, m.dir, err)
		}
	}
	if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		for fd := 0; fd <= 2; fd++ {
			_ = unix.Dup3(int(c.Fd()), fd, 0)
		}
		c.Close()
	}
	_ = os.MkdirAll("/etc", 0o755)
	_ = os.WriteFile("/etc/hostname", []byte("byoi-installer\n"), 0o644)
}

// prepare loads the kernel modules the hardware needs and brings up the
// boot NIC.
func prepare(ctx context.Context, c Config, log *slog.Logger) error {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	var loader *moduleLoader
	if dir, err := modulesDir("/lib/modules", release); err != nil {
		log.Warn("no kernel modules: relying on built-in drivers", "err", err)
	} else if loader, err = newModuleLoader(dir, loadModuleFile, log); err != nil {
		log.Warn("kernel modules unusable: relying on built-in drivers", "err", err)
	}
	coldplug := func() int {
		if loader == nil {
			return 0
		}
		return loader.Coldplug("/sys")
	}
	if loader != nil {
		n := loader.Load(c.Modules...)
		for round := 0; round < 5; round++ {
			k := coldplug()
			n += k
			if k == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		log.Info("kernel modules loaded", "count", n, "release", release)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ifaces, err := net.Interfaces()
		if err == nil {
			if iface, ok := pickInterface(ifaces, c); ok {
				_, err := bringUp(ctx, iface.Name, c, "/etc", log)
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no network interface with MAC %s after 60s (interfaces: %s)", c.BootIf, ifaceNames(ifaces))
		}
		coldplug()
		time.Sleep(500 * time.Millisecond)
	}
}

func ifaceNames(ifaces []net.Interface) string {
	var s []string
	for _, i := range ifaces {
		s = append(s, i.Name+"="+i.HardwareAddr.String())
	}
	return strings.Join(s, " ")
}

// prepareRescue is prepare for the rescue system, plus what its logins
// need: a host name, pseudo-terminals (devpts), and the binary module
// indexes that kmod's modprobe (and the kernel's request_module) read.
func prepareRescue(ctx context.Context, c Config, log *slog.Logger) error {
	if err := prepare(ctx, c, log); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("byoi-rescue")); err != nil {
		log.Warn("set host name", "err", err)
	}
	_ = os.MkdirAll("/dev/pts", 0o755)
	if err := unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=666"); err != nil &&
		!errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("mount devpts on /dev/pts (sshd needs pseudo-terminals): %w", err)
	}
	if depmod, err := exec.LookPath("depmod"); err == nil {
		if out, err := exec.CommandContext(ctx, depmod, "-a").CombinedOutput(); err != nil {
			log.Warn("depmod -a failed: modprobe will not find modules", "err", err, "output", strings.TrimSpace(string(out)))
		}
	} else {
		log.Warn("no depmod: the tools layer is missing?", "err", err)
	}
	return nil
}

// reboot syncs and restarts or powers off the machine.
func reboot(poweroff bool) error {
	unix.Sync()
	cmd := unix.LINUX_REBOOT_CMD_RESTART
	if poweroff {
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	}
	return unix.Reboot(cmd)
}

// fatal shows err on the console and, as PID 1, stays alive forever,
// repeating it (a rescue shell first when debug is set and /bin/sh exists).
// what is "installer" or "rescue system".
func fatal(pid1, debug bool, what string, err error) {
	note := "The disk may be partly written; this machine will NOT reboot by itself."
	if what != "installer" {
		note = "This machine will NOT reboot by itself."
	}
	banner := "\n" + strings.Repeat("!", 72) + "\nbyoi " + what + " FAILED: " + err.Error() +
		"\n" + note + "\n" + strings.Repeat("!", 72) + "\n"
	fmt.Fprint(os.Stderr, banner)
	if !pid1 {
		os.Exit(1)
	}
	if debug {
		if _, serr := os.Stat("/bin/sh"); serr == nil {
			fmt.Fprintln(os.Stderr, "byoi.debug=1: starting /bin/sh; exit it to see the error again")
			sh := exec.Command("/bin/sh")
			sh.Stdin, sh.Stdout, sh.Stderr = os.Stdin, os.Stdout, os.Stderr
			sh.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
			_ = sh.Run()
		}
	}
	for {
		// PID 1 also reaps orphans (the shell's children).
		var ws unix.WaitStatus
		for {
			if pid, _ := unix.Wait4(-1, &ws, unix.WNOHANG, nil); pid <= 0 {
				break
			}
		}
		time.Sleep(60 * time.Second)
		fmt.Fprint(os.Stderr, banner)
	}
}
