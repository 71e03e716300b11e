package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	nethttp "net/http"
	"os"
	"strings"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/ipxe"
	"github.com/gorilla/mux"
)

func (s *Server) handleBootstrap(w nethttp.ResponseWriter, r *nethttp.Request) {
	var buf bytes.Buffer
	if err := ipxe.Bootstrap(&buf, ipxe.BootstrapParams{BaseURL: s.baseURL(r)}); err != nil {
		s.fail(w, r, fmt.Errorf("render bootstrap script: %w", err))
		return
	}
	writeScript(w, buf.Bytes())
}

func writeScript(w nethttp.ResponseWriter, script []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(script)
}

// handleMachineScript answers iPXE's second stage: what this machine boots now.
func (s *Server) handleMachineScript(w nethttp.ResponseWriter, r *nethttp.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	mac, err := boot.NormalizeMAC(q.Get("mac"))
	if err != nil {
		writeError(w, nethttp.StatusBadRequest, err.Error())
		return
	}
	fw, arch := firmwareOf(q.Get("platform")), archOf(q.Get("buildarch"))
	client := clientString(fw, arch, q.Get("uuid"))
	now := s.cfg.Now()

	var action boot.Action
	m, err := s.st.MachineByMAC(ctx, mac)
	switch {
	case errors.Is(err, boot.ErrNotFound):
		d, err := s.st.RecordDiscovered(ctx, mac, client, now)
		if err != nil {
			s.fail(w, r, fmt.Errorf("record discovered %s: %w", mac, err))
			return
		}
		s.event(ctx, d.Name, 0, boot.EventDiscovered, "unknown MAC "+mac+" booted ("+client+")")
		action = boot.Decide(nil, nil)
		action.Machine = d.Name
	case err != nil:
		s.fail(w, r, fmt.Errorf("look up %s: %w", mac, err))
		return
	default:
		if err := s.st.TouchMachine(ctx, m.Name, client, now); err != nil {
			s.fail(w, r, err)
			return
		}
		action, err = s.decide(r, m)
		if err != nil {
			s.fail(w, r, err)
			return
		}
	}

	if action.Kind == boot.ActionInstall && action.Task.Status == boot.StatusDoing {
		if action, err = s.rebootedMidInstall(ctx, *action.Task); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	p := ipxe.ScriptParams{BaseURL: s.baseURL(r), Firmware: fw, Arch: arch, MAC: mac}
	if action.Kind == boot.ActionInstall {
		token, err := s.issueToken(r, action.Task)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		p.Token = token
		p.KernelURL = p.BaseURL + ipxe.FilesPath + s.cfg.KernelName
		p.InitrdURL = p.BaseURL + ipxe.FilesPath + s.cfg.InitrdName
		p.ExtraArgs = append([]string(nil), s.cfg.ExtraKernelArgs...)
	}
	var buf bytes.Buffer
	if err := ipxe.Script(&buf, action, p); err != nil {
		s.fail(w, r, fmt.Errorf("render script for %s: %w", mac, err))
		return
	}
	var task int64
	if action.Task != nil {
		task = action.Task.ID
	}
	s.log.Info("boot decision", "mac", mac, "machine", action.Machine, "task", task, "action", action.Kind, "reason", action.Reason, "client", client)
	if action.Machine != "" {
		s.event(ctx, action.Machine, task, boot.EventBootDecision, fmt.Sprintf("%s: %s (%s)", action.Kind, action.Reason, client))
	}
	writeScript(w, buf.Bytes())
}

// rebootedMidInstall handles a machine that PXE-boots again after its
// installer fetched its task (reset, power loss, crash — or another host
// claiming its MAC). No second token is handed out for a running task: the
// task's secrets go to one installer only. The task ends in ovhError, the
// machine exits to its next boot device (its boot mode was cleared when the
// installer started, so a half-written disk is never booted by byoi), and
// the operator submits the reinstall again.
func (s *Server) rebootedMidInstall(ctx context.Context, t boot.Task) (boot.Action, error) {
	last := t.LastUpdate.UTC().Format(time.RFC3339)
	msg := fmt.Sprintf("The server rebooted during the installation (last installer report at %s); submit the reinstall again", last)
	if _, _, err := s.endInstall(ctx, t.ID, func(cur boot.Task) (string, bool) {
		return msg, cur.Status == boot.StatusDoing
	}); err != nil {
		return boot.Action{}, err
	}
	s.log.Warn("machine rebooted during install", "machine", t.Machine, "task", t.ID, "lastReport", last)
	return boot.Action{Kind: boot.ActionExit, Machine: t.Machine,
		Reason: fmt.Sprintf("rebooted during install: task %d failed", t.ID)}, nil
}

// decide looks up a known machine's active task and makes the decision.
func (s *Server) decide(r *nethttp.Request, m boot.Machine) (boot.Action, error) {
	t, err := s.st.ActiveTask(r.Context(), m.Name)
	switch {
	case errors.Is(err, boot.ErrNotFound):
		return boot.Decide(&m, nil), nil
	case err != nil:
		return boot.Action{}, fmt.Errorf("active task of %s: %w", m.Name, err)
	}
	return boot.Decide(&m, &t), nil
}

// issueToken gives the installer a fresh one-time token: only its hash is
// stored, replacing the previous one, which stops working. It also stamps
// LastUpdate, so a machine that rebooted mid-install gets a full
// InstallerTimeout to come back up.
func (s *Server) issueToken(r *nethttp.Request, t *boot.Task) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	updated, err := s.st.UpdateTask(r.Context(), t.ID, func(t *boot.Task) error {
		if !t.Status.Active() {
			return errorf(nethttp.StatusConflict, "task %d ended while its installer was booting", t.ID)
		}
		t.TokenHash = hashToken(token)
		t.LastUpdate = s.cfg.Now() // the machine is alive: the watchdog starts over
		return nil
	})
	if err != nil {
		return "", err
	}
	*t = updated
	return token, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func firmwareOf(platform string) boot.Firmware {
	switch platform {
	case string(boot.FirmwareEFI):
		return boot.FirmwareEFI
	case string(boot.FirmwareBIOS):
		return boot.FirmwareBIOS
	}
	return boot.FirmwareUnknown
}

func archOf(buildarch string) boot.Arch {
	switch a := boot.Arch(buildarch); a {
	case boot.ArchI386, boot.ArchX86_64, boot.ArchARM32, boot.ArchARM64:
		return a
	}
	return boot.ArchUnknown
}

// clientString describes a boot client for LastClient and events, from
// values that were already checked (the UUID is kept only if it looks like one).
func clientString(fw boot.Firmware, arch boot.Arch, uuid string) string {
	f, a := string(fw), string(arch)
	if f == "" {
		f = "unknown"
	}
	if a == "" {
		a = "unknown"
	}
	out := f + "/" + a
	if len(uuid) == 36 && strings.Trim(strings.ToLower(uuid), "0123456789abcdef-") == "" {
		out += " uuid " + strings.ToLower(uuid)
	}
	return out
}

// handleFile serves FilesDir read-only. os.Root confines every open to the
// directory, symbolic links included.
func (s *Server) handleFile(w nethttp.ResponseWriter, r *nethttp.Request) {
	name := mux.Vars(r)["name"]
	if s.cfg.FilesDir == "" || !validFileName(name) {
		writeError(w, nethttp.StatusNotFound, "No such file")
		return
	}
	root, err := os.OpenRoot(s.cfg.FilesDir)
	if err != nil {
		s.fail(w, r, fmt.Errorf("open files directory: %w", err))
		return
	}
	defer root.Close()
	f, err := root.Open(name)
	if err != nil {
		writeError(w, nethttp.StatusNotFound, "No such file")
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		writeError(w, nethttp.StatusNotFound, "No such file")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	nethttp.ServeContent(w, r, name, fi.ModTime(), f)
}

// validFileName accepts one plain path component.
func validFileName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 &&
		!strings.ContainsAny(name, "/\\\x00") && !strings.HasPrefix(name, ".")
}

// filesRoute serves the boot files under ipxe.FilesPath.
var filesRoute = ipxe.FilesPath + "{name}"
