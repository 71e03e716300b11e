package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

// Boot modes an operator chooses (OVH's harddisk and rescue boots).
const (
	BootDisk   = "disk"
	BootRescue = "rescue"
)

// SetBoot chooses what the machine boots when no installation is pending:
// BootDisk (its disk, as after an install) or BootRescue (the rescue
// system, which accepts sshKey, else the machine's rescue key, else the
// sshKey of its latest install). With reboot, the machine is then
// network-booted through its BMC (or the operator is told to do it by
// hand).
func (l *Lifecycle) SetBoot(ctx context.Context, name, mode, sshKey string, reboot bool) (boot.Machine, error) {
	var bm boot.BootMode
	switch mode {
	case BootDisk:
		bm = boot.BootModeLocal
	case BootRescue:
		bm = boot.BootModeRescue
	default:
		return boot.Machine{}, &boot.ValidationError{Msg: fmt.Sprintf("invalid boot %s: use %s or %s", boot.Quote(mode), BootDisk, BootRescue)}
	}
	if sshKey != "" {
		if err := boot.ValidateSSHKey(sshKey); err != nil {
			return boot.Machine{}, err
		}
	}
	if _, err := l.knownMachine(ctx, name); err != nil {
		return boot.Machine{}, err
	}
	m, err := l.st.UpdateMachine(ctx, name, func(m *boot.Machine) error {
		m.BootMode, m.Rescue = bm, nil
		if sshKey != "" {
			m.RescueSSHKey = sshKey
		}
		return nil
	})
	if err != nil {
		return boot.Machine{}, err
	}
	l.log.Info("boot mode set", "machine", name, "mode", mode)
	l.event(ctx, name, 0, boot.EventBootMode, "next boot: "+mode)
	if reboot {
		l.netboot(m, "boot "+mode)
	}
	return m, nil
}

// Rescue is OVH's DELETE …/bringYourOwnImage: the active deployment, if
// any, is cancelled and the machine reboots into the rescue system.
func (l *Lifecycle) Rescue(ctx context.Context, name, why string) error {
	if _, _, err := l.CancelActive(ctx, name, why); err != nil {
		return err
	}
	_, err := l.SetBoot(ctx, name, BootRescue, "", true)
	return err
}

// rescueBoot hands a machine in rescue mode a new per-boot token, in the
// transaction that checks it is still in rescue mode.
func (l *Lifecycle) rescueBoot(ctx context.Context, m boot.Machine) (BootResult, error) {
	token, hash, err := newToken()
	if err != nil {
		return BootResult{}, err
	}
	now := l.cfg.Now()
	var res BootResult
	_, err = l.st.UpdateMachine(ctx, m.Name, func(m *boot.Machine) error {
		res = BootResult{Action: boot.Decide(m, nil)}
		if res.Action.Kind != boot.ActionRescue {
			return errUnchanged // left rescue meanwhile
		}
		m.Rescue = &boot.RescueInfo{TokenHash: hash, Booted: now}
		res.Token = token
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return BootResult{}, fmt.Errorf("rescue boot of %s: %w", m.Name, err)
	}
	return res, nil
}

// rescueMachine finds the machine of a rescue token that is still current.
func (l *Lifecycle) rescueMachine(ctx context.Context, hash string) (boot.Machine, error) {
	if hash == "" {
		return boot.Machine{}, errToken
	}
	m, err := l.st.MachineByRescueToken(ctx, hash)
	switch {
	case errors.Is(err, boot.ErrNotFound):
		return boot.Machine{}, errToken
	case err != nil:
		return boot.Machine{}, err
	case m.BootMode != boot.BootModeRescue || m.Rescue == nil || m.Rescue.TokenHash != hash:
		return boot.Machine{}, errToken
	}
	return m, nil
}

// AuthorizeRescue checks, without writing, that hash is a rescue
// system's current token (before its request body is read).
func (l *Lifecycle) AuthorizeRescue(ctx context.Context, hash string) error {
	_, err := l.rescueMachine(ctx, hash)
	return err
}

// RescueConfig is what the rescue system of the token needs: the SSH keys
// root accepts.
func (l *Lifecycle) RescueConfig(ctx context.Context, hash string) (agentapi.Rescue, error) {
	m, err := l.rescueMachine(ctx, hash)
	if err != nil {
		return agentapi.Rescue{}, err
	}
	out := agentapi.Rescue{Machine: m.Name, SSHKeys: []string{}}
	key := m.RescueSSHKey
	if key == "" {
		ts, err := l.st.Tasks(ctx, m.Name)
		if err != nil {
			return agentapi.Rescue{}, err
		}
		for _, t := range ts { // newest first
			if t.Spec.SSHKey != "" {
				key = t.Spec.SSHKey
				break
			}
		}
	}
	if key != "" {
		out.SSHKeys = append(out.SSHKeys, key)
	}
	l.event(ctx, m.Name, 0, boot.EventRescue, fmt.Sprintf("rescue system up, fetched %d SSH key(s)", len(out.SSHKeys)))
	return out, nil
}

// RescueReady records where the rescue system of the token answers SSH.
func (l *Lifecycle) RescueReady(ctx context.Context, hash string, r agentapi.RescueReady) (boot.Machine, error) {
	if len(r.Addresses) > 16 || len(r.HostKeys) > 8 || len(r.HostPublicKeys) > 8 {
		return boot.Machine{}, badReport("too many addresses or host keys")
	}
	for _, v := range append(append(append([]string(nil), r.Addresses...), r.HostKeys...), r.HostPublicKeys...) {
		if len(v) > 1024 || strings.ContainsAny(v, "\r\n\x00") {
			return boot.Machine{}, badReport("invalid address or host key %s", boot.Quote(v))
		}
	}
	found, err := l.rescueMachine(ctx, hash)
	if err != nil {
		return boot.Machine{}, err
	}
	now, name := l.cfg.Now(), found.Name
	m, err := l.st.UpdateMachine(ctx, name, func(m *boot.Machine) error {
		if m.BootMode != boot.BootModeRescue || m.Rescue == nil || m.Rescue.TokenHash != hash {
			return errToken
		}
		info := *m.Rescue
		info.Ready, info.Addresses, info.HostKeys, info.HostPublicKeys = now, r.Addresses, r.HostKeys, r.HostPublicKeys
		m.Rescue = &info
		return nil
	})
	if errors.Is(err, boot.ErrNotFound) && KindOf(err) == 0 {
		return boot.Machine{}, errToken // deleted meanwhile
	}
	if err != nil {
		return boot.Machine{}, err
	}
	msg := "rescue system ready"
	if len(r.Addresses) > 0 {
		msg += ": ssh root@" + r.Addresses[0]
	}
	if len(r.HostKeys) > 0 {
		msg += " (host key " + r.HostKeys[0] + ")"
	}
	l.log.Info("rescue system ready", "machine", name, "addresses", r.Addresses)
	l.event(ctx, name, 0, boot.EventRescue, msg)
	return m, nil
}
