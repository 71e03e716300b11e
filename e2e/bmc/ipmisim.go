package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// IPMISimConfig describes one ipmi_sim BMC. The zero value of the optional
// fields works.
type IPMISimConfig struct {
	Dir      string  // working directory (configs, state, logs); required
	Netns    string  // run ipmi_sim (and so its VM) inside this namespace
	Addr     string  // IPMI LAN address; default 127.0.0.1
	Port     int     // UDP port; default 623 in a namespace, a free one on the host
	User     string  // default admin
	Password string  // default password
	VM       *VMSpec // the machine; nil: a BMC with no power control at all
	// ChassisControl, when VM is nil, is a chassis_control program of the
	// test's own (e.g. a BMC that ignores a boot device).
	ChassisControl string
}

// IPMISim is a running ipmi_sim. With a VM its chassis_control script
// (chassis.sh in Dir) starts QEMU daemonized with a pidfile on power on, kills
// it on power off, and turns a pending `pxe` boot device into a network-first
// boot order for the next start only (boots.log records each start's order).
type IPMISim struct {
	cfg IPMISimConfig
	cmd *exec.Cmd
}

// StartIPMISim writes lan.conf, bmc.emu and the scripts, and starts ipmi_sim.
func StartIPMISim(cfg IPMISimConfig) (*IPMISim, error) {
	for _, t := range [][2]string{{"ipmi_sim", "openipmi"}, {"ipmitool", "ipmitool"}} {
		if err := mustLookPath(t[0], t[1]); err != nil {
			return nil, err
		}
	}
	if cfg.Dir == "" {
		return nil, errors.New("ipmi_sim: Dir is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1"
	}
	if cfg.User == "" {
		cfg.User = "admin"
	}
	if cfg.Password == "" {
		cfg.Password = "password"
	}
	if cfg.Port == 0 {
		if cfg.Netns != "" {
			cfg.Port = 623
		} else {
			p, err := freeUDPPort(cfg.Addr)
			if err != nil {
				return nil, err
			}
			cfg.Port = p
		}
	}
	s := &IPMISim{cfg: cfg}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "state"), 0o755); err != nil {
		return nil, err
	}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	argv := []string{"ipmi_sim", "-c", s.path("lan.conf"), "-f", s.path("bmc.emu"), "-s", s.path("state"), "-n"}
	if cfg.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", cfg.Netns}, argv...)
	}
	logf, err := os.Create(s.path("ipmi_sim.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start ipmi_sim: %w", err)
	}
	go func() { _ = s.cmd.Wait() }()
	// Ready when ipmitool gets an answer.
	var last error
	for i := 0; i < 50; i++ {
		if _, last = s.Ipmitool(context.Background(), "chassis", "power", "status"); last == nil {
			return s, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.Close()
	log, _ := os.ReadFile(s.path("ipmi_sim.log"))
	return nil, fmt.Errorf("ipmi_sim did not answer: %v (log: %s)", last, strings.TrimSpace(string(log)))
}

func (s *IPMISim) path(name string) string { return filepath.Join(s.cfg.Dir, name) }

// Address is the driver's address, host:port.
func (s *IPMISim) Address() string {
	return net.JoinHostPort(s.cfg.Addr, strconv.Itoa(s.cfg.Port))
}

// User and Password are the BMC's credentials.
func (s *IPMISim) User() string     { return s.cfg.User }
func (s *IPMISim) Password() string { return s.cfg.Password }

func (s *IPMISim) writeConfig() error {
	c := s.cfg
	auths := "none md2 md5 straight"
	var lan strings.Builder
	fmt.Fprintf(&lan, "# byoi test BMC\nname \"byoitest\"\nset_working_mc 0x20\n  startlan 1\n")
	fmt.Fprintf(&lan, "    addr %s %d\n    priv_limit admin\n", c.Addr, c.Port)
	for _, who := range []string{"callback", "user", "operator", "admin"} {
		fmt.Fprintf(&lan, "    allowed_auths_%s %s\n", who, auths)
	}
	fmt.Fprintf(&lan, "    guid a123456789abcdefa123456789abcdef\n  endlan\n")
	if c.VM != nil {
		if err := c.VM.defaults(); err != nil {
			return err
		}
		if err := c.VM.prepare(); err != nil {
			return err
		}
		fmt.Fprintf(&lan, "  serial 15 127.0.0.1 %d codec VM\n", s.vmPort())
		fmt.Fprintf(&lan, "  chassis_control %q\n", s.path("chassis.sh"))
		if err := s.writeScripts(); err != nil {
			return err
		}
	} else if c.ChassisControl != "" {
		fmt.Fprintf(&lan, "  chassis_control %q\n", c.ChassisControl)
	}
	fmt.Fprintf(&lan, "  user 2 true %q %q admin 10 %s\n", c.User, c.Password, auths)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n" +
		"sel_enable 0x20 1000 0x0a\nmc_enable 0x20\n"
	if err := os.WriteFile(s.path("lan.conf"), []byte(lan.String()), 0o600); err != nil {
		return err
	}
	return os.WriteFile(s.path("bmc.emu"), []byte(emu), 0o644)
}

// vmPort is the TCP port of ipmi_sim's VM interface (QEMU's ipmi-bmc-extern).
func (s *IPMISim) vmPort() int { return 9000 + s.cfg.Port%1000 }

// qemuLine is the shell command that starts the VM daemonized.
func (s *IPMISim) qemuLine(nicFirst bool) string {
	vm := *s.cfg.VM
	args := append(vm.Args(nicFirst),
		"-chardev", fmt.Sprintf("socket,id=ipmi0,host=127.0.0.1,port=%d,reconnect=10", s.vmPort()),
		"-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0", "-device", "isa-ipmi-kcs,bmc=bmc0",
		"-daemonize", "-pidfile", s.path("qemu.pid"))
	words := []string{quoteSh(vm.QEMU)}
	for _, a := range args {
		words = append(words, quoteSh(a))
	}
	return strings.Join(words, " ") + " </dev/null >>" + quoteSh(s.path("qemu.log")) + " 2>&1"
}

// writeScripts writes chassis.sh, the chassis_control program: ipmi_sim runs
// it as `chassis.sh get power boot` (answer "power:1", "boot:pxe") and
// `chassis.sh set power 1|0`, `set reset 1`, `set boot pxe|default|…`. It
// must return quickly (ipmitool resends after ~1 s) and keep no descriptor
// of ipmi_sim's open, so QEMU is daemonized with its output in qemu.log.
func (s *IPMISim) writeScripts() error {
	script := `#!/bin/sh
# chassis_control of byoi's test BMC (generated by e2e/bmc).
dir=` + quoteSh(s.cfg.Dir) + `
pidfile="$dir/qemu.pid"
echo "$*" >>"$dir/chassis.log"
running() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
stop() {
	if running; then
		pid=$(cat "$pidfile"); kill -9 "$pid"
		# QEMU dies in milliseconds; wait so a following start finds the
		# disk and vars files unlocked.
		i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done
	fi
	rm -f "$pidfile"
}
start() {
	if [ -f "$dir/boot.pxe" ]; then
		rm -f "$dir/boot.pxe"; echo network >>"$dir/boots.log"
		` + s.qemuLine(true) + `
	else
		echo disk >>"$dir/boots.log"
		` + s.qemuLine(false) + `
	fi
}
case "$1" in
get)
	shift
	for p in "$@"; do
		case "$p" in
		power) if running; then echo power:1; else echo power:0; fi ;;
		boot) if [ -f "$dir/boot.pxe" ]; then echo boot:pxe; else echo boot:default; fi ;;
		esac
	done
	;;
set)
	shift
	while [ $# -ge 2 ]; do
		case "$1" in
		power) if [ "$2" = 1 ]; then running || start; else stop; fi ;;
		reset) if running; then stop; start; fi ;;
		boot) if [ "$2" = pxe ]; then : >"$dir/boot.pxe"; else rm -f "$dir/boot.pxe"; fi ;;
		esac
		shift 2
	done
	;;
esac
exit 0
`
	return os.WriteFile(s.path("chassis.sh"), []byte(script), 0o755)
}

// Ipmitool runs `ipmitool -I lanplus -C 3` against the BMC (inside its
// namespace) and returns stdout. ipmitool exits 0 on some refusals: any
// stderr line with "failed" or "Error" is returned as an error too.
func (s *IPMISim) Ipmitool(ctx context.Context, args ...string) (string, error) {
	return s.IpmitoolAs(ctx, s.cfg.User, s.cfg.Password, args...)
}

// IpmitoolAs is Ipmitool with other credentials.
func (s *IPMISim) IpmitoolAs(ctx context.Context, user, password string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	argv := append([]string{"ipmitool", "-I", "lanplus", "-C", "3", "-H", s.cfg.Addr, "-p", strconv.Itoa(s.cfg.Port),
		"-U", user, "-E", "-N", "1", "-R", "3"}, args...)
	if s.cfg.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", s.cfg.Netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "IPMI_PASSWORD="+password)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	stderr := strings.TrimSpace(errb.String())
	if err == nil && (strings.Contains(stderr, "failed") || strings.Contains(stderr, "Error")) {
		err = errors.New("ipmitool reported an error")
	}
	if err != nil {
		return out.String(), fmt.Errorf("ipmitool %s: %w: %s", strings.Join(args, " "), err, stderr)
	}
	return out.String(), nil
}

// Boots returns the boot order of every VM start so far ("disk" or
// "network" first).
func (s *IPMISim) Boots() []string {
	b, _ := os.ReadFile(s.path("boots.log"))
	return strings.Fields(string(b))
}

// Close stops ipmi_sim and the VM, by their PIDs.
func (s *IPMISim) Close() {
	if b, err := os.ReadFile(s.path("qemu.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			killPID(pid)
		}
	}
	if s.cmd != nil && s.cmd.Process != nil {
		killPID(s.cmd.Process.Pid)
	}
}

// freeUDPPort returns a UDP port that was free a moment ago.
func freeUDPPort(addr string) (int, error) {
	c, err := net.ListenPacket("udp4", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}
