package lifecycle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/byoi/byoi/boot"
)

// BootRequest is one machine asking what to boot (iPXE's second stage).
type BootRequest struct {
	MAC    string // any form boot.NormalizeMAC accepts
	Client string // e.g. "efi/x86_64 uuid …", for LastClient and events
	// Source is the requester's address (no port), for the discovery rate
	// limit; empty: one shared bucket.
	Source string
}

// BootResult is the decision for one boot request.
type BootResult struct {
	Action boot.Action
	// Token is the installer's one-time token, set for ActionInstall only.
	Token string
	// Limited is true when an unknown MAC was not recorded because its
	// source exceeded the discovery rate.
	Limited bool
}

// Boot decides what the machine with req.MAC boots now, and acts on it in
// the same transaction as the decision:
//   - an unknown MAC is recorded as a discovered machine (rate-limited per
//     source; beyond the store's cap the oldest discovered go first) and
//     exits to the next boot device;
//   - a todo task gets a new one-time installer token (the previous one
//     stops working) and the installer boots;
//   - a doing task means the machine rebooted while its installer ran: no
//     token is ever handed out again for it; the task ends in ovhError and
//     the machine exits (its disk is half-written and byoi cleared local boot
//     when the installer started);
//   - a machine in rescue mode gets a new per-boot rescue token (the
//     previous one stops working) and boots the rescue system;
//   - otherwise the machine boots its disk or exits, as boot.Decide says.
func (l *Lifecycle) Boot(ctx context.Context, req BootRequest) (BootResult, error) {
	mac, err := boot.NormalizeMAC(req.MAC)
	if err != nil {
		return BootResult{}, err
	}
	now := l.cfg.Now()
	m, _, err := l.st.RecordBoot(ctx, mac, req.Client, now, false)
	if errors.Is(err, boot.ErrNotFound) {
		return l.discover(ctx, mac, req, now)
	}
	if err != nil {
		return BootResult{}, fmt.Errorf("record boot of %s: %w", mac, err)
	}
	res, err := l.decide(ctx, m, now)
	if err != nil {
		return BootResult{}, err
	}
	l.checkEFIPath(ctx, &res.Action)
	l.logDecision(ctx, mac, req.Client, res.Action)
	return res, nil
}

// discover records an unknown MAC, within the per-source rate.
func (l *Lifecycle) discover(ctx context.Context, mac string, req BootRequest, now time.Time) (BootResult, error) {
	if !l.discovery.allow(req.Source, now) {
		l.limited.Add(1)
		l.log.Warn("unknown MAC not recorded: discovery rate exceeded", "mac", mac, "source", req.Source)
		return BootResult{Action: boot.Action{Kind: boot.ActionExit, Reason: "unknown machine, not recorded (rate limit)"}, Limited: true}, nil
	}
	d, created, err := l.st.RecordBoot(ctx, mac, req.Client, now, true)
	if err != nil {
		return BootResult{}, fmt.Errorf("record discovered %s: %w", mac, err)
	}
	if !created { // registered meanwhile: decide as for any known machine
		res, err := l.decide(ctx, d, now)
		if err == nil {
			l.logDecision(ctx, mac, req.Client, res.Action)
		}
		return res, err
	}
	// One event says both that it was recorded and what it was told.
	l.event(ctx, d.Name, 0, boot.EventDiscovered, "unknown MAC "+mac+" booted ("+req.Client+"): recorded, exit to the next boot device")
	action := boot.Decide(nil, nil)
	action.Machine = d.Name
	l.log.Info("boot decision", "mac", mac, "machine", d.Name, "action", action.Kind, "reason", action.Reason, "client", req.Client)
	return BootResult{Action: action}, nil
}

// Limited counts the unknown MACs not recorded because their source
// exceeded the discovery rate, since New.
func (l *Lifecycle) Limited() uint64 { return l.limited.Load() }

// errUnchanged aborts a transaction that has nothing to write.
var errUnchanged = errors.New("unchanged")

// decide makes the decision for a known machine; with an active task, the
// decision and what it leads to (a token, or the end of the task) happen in
// one transaction that re-reads the task.
func (l *Lifecycle) decide(ctx context.Context, m boot.Machine, now time.Time) (BootResult, error) {
	active, err := l.st.ActiveTask(ctx, m.Name)
	if errors.Is(err, boot.ErrNotFound) || (err == nil && active.Function != FunctionReinstall) {
		// Nothing to install (a power task is not an installation).
		if boot.Decide(&m, nil).Kind == boot.ActionRescue {
			return l.rescueBoot(ctx, m)
		}
		return BootResult{Action: boot.Decide(&m, nil)}, nil
	}
	if err != nil {
		return BootResult{}, fmt.Errorf("active task of %s: %w", m.Name, err)
	}
	token, hash, err := newToken()
	if err != nil {
		return BootResult{}, err
	}
	var res BootResult
	var rebooted bool
	t, _, err := l.st.UpdateTaskMachine(ctx, active.ID, func(t *boot.Task, m *boot.Machine) error {
		res, rebooted = BootResult{}, false
		switch t.Status {
		case boot.StatusTodo:
			t.TokenHash = hash
			t.LastUpdate = now // the machine is alive: the watchdog starts over
			res = BootResult{Action: boot.Decide(m, t), Token: token}
			return nil
		case boot.StatusDoing:
			rebooted = true
			msg := fmt.Sprintf("The server rebooted during the installation (last installer report at %s); submit the reinstall again",
				t.LastUpdate.UTC().Format(time.RFC3339))
			res = BootResult{Action: boot.Action{Kind: boot.ActionExit, Machine: m.Name,
				Reason: fmt.Sprintf("rebooted during install: task %d failed", t.ID)}}
			return fail(t, boot.StatusOVHError, "", msg, now)
		}
		res = BootResult{Action: boot.Decide(m, nil)} // it ended meanwhile
		if res.Action.Kind == boot.ActionRescue {
			res.Action = boot.Action{Kind: boot.ActionExit, Machine: m.Name, Reason: "task ended while booting: boot again"}
		}
		return errUnchanged
	})
	if errors.Is(err, errUnchanged) {
		return res, nil
	}
	if err != nil {
		return BootResult{}, fmt.Errorf("boot of %s with task %d: %w", m.Name, active.ID, err)
	}
	if rebooted {
		l.ended(t)
		l.log.Warn("machine rebooted during install", "machine", t.Machine, "task", t.ID)
		l.event(ctx, t.Machine, t.ID, boot.EventTaskError, fmt.Sprintf("%s: %s", t.Status, t.Message))
	} else if res.Action.Task != nil {
		res.Action.Task = &t
	}
	return res, nil
}

// checkEFIPath makes sure a stored efiBootloaderPath can never stop a
// machine from booting: one the shared rule refuses (stored by an older
// byoi, or by hand) is replaced by the default path, with an event.
func (l *Lifecycle) checkEFIPath(ctx context.Context, a *boot.Action) {
	if a.Kind != boot.ActionLocal || a.EFIBootloaderPath == "" {
		return
	}
	if err := boot.ValidateEFIPath(a.EFIBootloaderPath); err != nil {
		l.log.Warn("stored efiBootloaderPath refused, booting the default path", "machine", a.Machine, "err", err)
		l.event(ctx, a.Machine, 0, boot.EventBootMode, fmt.Sprintf("stored efiBootloaderPath cannot be booted (%v): booting the default path instead", err))
		a.EFIBootloaderPath = ""
	}
}

func (l *Lifecycle) logDecision(ctx context.Context, mac, client string, a boot.Action) {
	var task int64
	if a.Task != nil {
		task = a.Task.ID
	}
	l.log.Info("boot decision", "mac", mac, "machine", a.Machine, "task", task, "action", a.Kind, "reason", a.Reason, "client", client)
	if a.Machine != "" {
		l.event(ctx, a.Machine, task, boot.EventBootDecision, fmt.Sprintf("%s: %s (%s)", a.Kind, a.Reason, client))
	}
}

// newToken makes a one-time installer token and its stored hash.
func newToken() (token, hash string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(raw[:])
	return token, HashToken(token), nil
}

// HashToken is how installer tokens are stored and looked up: hex SHA-256.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
