// Package rescue is the SSH side of byoi's rescue system: the agent, booted
// with byoi.mode=rescue over the installer's initramfs and the tools and
// rescue layers (see initramfs/build), uses it to let an operator log in as
// root with the machine's SSH keys. It installs the keys, makes host keys
// with ssh-keygen, writes an sshd configuration (keys only, no passwords,
// no PAM), and runs Debian's OpenSSH sshd, restarting it when it exits.
//
//	s := rescue.System{Log: log}
//	if err := s.Prepare("rack1-07", keys); err != nil { … }
//	keys, err := s.HostKeys(ctx)
//	err = s.Serve(ctx, func(pid int) { … sshd started … })
//
// No cryptography is done here: keys are made by ssh-keygen and used by
// sshd; fingerprints are SHA-256 of the public key blob, as ssh-keygen -l
// shows them.
package rescue

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Defaults of System.
const (
	DefaultSSHD   = "/usr/sbin/sshd"
	DefaultKeygen = "/usr/bin/ssh-keygen"
	DefaultPort   = 22
)

// System is one rescue system's SSH server. The zero value serves the real
// machine: files under /, Debian's sshd and ssh-keygen, port 22.
type System struct {
	// Root is where etc/ssh, root/.ssh and run/sshd are written ("/").
	Root string
	// SSHD and Keygen are the programs (DefaultSSHD, DefaultKeygen).
	SSHD, Keygen string
	// Port sshd listens on (DefaultPort).
	Port int
	// ReapAll makes Serve reap every child of the process, not only sshd:
	// what PID 1 must do for the orphans of SSH sessions. Only set it where
	// nothing else in the process waits for its own children meanwhile.
	ReapAll bool
	// Log receives sshd's restarts; nil discards.
	Log *slog.Logger
	// Stderr receives sshd's own log (sshd -e); nil: os.Stderr.
	Stderr *os.File
	// RestartWait is the first pause before sshd is started again (1 s);
	// it doubles while sshd keeps exiting within a minute, up to 30 s.
	RestartWait time.Duration
}

func (s System) withDefaults() System {
	if s.Root == "" {
		s.Root = "/"
	}
	if s.SSHD == "" {
		s.SSHD = DefaultSSHD
	}
	if s.Keygen == "" {
		s.Keygen = DefaultKeygen
	}
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if s.Log == nil {
		s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.Stderr == nil {
		s.Stderr = os.Stderr
	}
	if s.RestartWait == 0 {
		s.RestartWait = time.Second
	}
	return s
}

// path is p (absolute, as the machine sees it) under Root.
func (s System) path(p string) string { return filepath.Join(s.Root, filepath.FromSlash(p)) }

// Files the rescue system writes, as the machine sees them.
const (
	ConfigFile     = "/etc/ssh/sshd_config"
	AuthorizedKeys = "/root/.ssh/authorized_keys"
	PrivsepDir     = "/run/sshd" // Debian's sshd is built with this one
	PidFile        = "/run/sshd.pid"
	MotdFile       = "/etc/motd"
)

// keyTypes are the host keys made, in the order offered: ssh-keygen -t
// name and file. No RSA key: every OpenSSH since 6.5 (2014) takes Ed25519,
// and making a 3072-bit RSA key took 50 s in the test VMs (TCG).
var keyTypes = []struct{ name, file string }{
	{"ed25519", "/etc/ssh/ssh_host_ed25519_key"},
	{"ecdsa", "/etc/ssh/ssh_host_ecdsa_key"},
}

// Prepare writes root's authorized_keys (every key checked first), the
// sshd configuration, the login message, and the folders sshd needs.
// Nothing is written when a key is refused.
func (s System) Prepare(machine string, keys []string) error {
	s = s.withDefaults()
	var ak strings.Builder
	for i, k := range keys {
		if err := CheckKey(k); err != nil {
			return fmt.Errorf("rescue: SSH key %d: %w", i+1, err)
		}
		ak.WriteString(strings.TrimSpace(k) + "\n")
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"/root", 0o700}, {"/root/.ssh", 0o700}, {"/etc/ssh", 0o755}, {PrivsepDir, 0o755}} {
		if err := os.MkdirAll(s.path(d.path), d.mode); err != nil {
			return fmt.Errorf("rescue: %w", err)
		}
		// sshd refuses a group- or world-writable home, .ssh or privsep folder.
		if err := os.Chmod(s.path(d.path), d.mode); err != nil {
			return fmt.Errorf("rescue: %w", err)
		}
	}
	for _, f := range []struct {
		path, content string
		mode          os.FileMode
	}{
		{AuthorizedKeys, ak.String(), 0o600},
		{ConfigFile, s.config(), 0o644},
		{MotdFile, motd(machine), 0o644},
	} {
		if err := writeFile(s.path(f.path), []byte(f.content), f.mode); err != nil {
			return fmt.Errorf("rescue: %w", err)
		}
	}
	return nil
}

// config renders sshd_config: root logs in with a key and nothing else.
func (s System) config() string {
	var b strings.Builder
	b.WriteString("# Written by byoi's rescue system: root logs in with the machine's SSH keys only.\n")
	b.WriteString("Port " + strconv.Itoa(s.Port) + "\n")
	for _, k := range keyTypes {
		b.WriteString("HostKey " + s.path(k.file) + "\n")
	}
	fmt.Fprintf(&b, `PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
UsePAM no
PrintMotd yes
PrintLastLog no
X11Forwarding no
ClientAliveInterval 60
Subsystem sftp /usr/lib/openssh/sftp-server
`, s.path(PidFile), s.path(AuthorizedKeys))
	return b.String()
}

// motd is shown at login.
func motd(machine string) string {
	name := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, machine)
	if name == "" {
		name = "this machine"
	}
	return "\nbyoi rescue system for " + name + ": everything here lives in RAM and is lost at reboot.\n" +
		"The disks are untouched until you mount them: lsblk, blkid, mdadm --assemble --scan, vgchange -ay, mount.\n" +
		"There is no udev: lsblk shows no file system types, blkid does.\n" +
		"Leave rescue mode from byoi (byoi boot NAME disk), then reboot.\n\n"
}

// writeFile writes b to p through a temporary file renamed into place.
func writeFile(p string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".rescue-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
