package http

import (
	"bytes"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"strings"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/ipxe"
	"github.com/byoi/byoi/server/lifecycle"
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

// handleMachineScript answers iPXE's second stage: what this machine boots
// now. The lifecycle decides (and hands out the installer token); this
// only renders.
func (s *Server) handleMachineScript(w nethttp.ResponseWriter, r *nethttp.Request) {
	q := r.URL.Query()
	mac, err := boot.NormalizeMAC(q.Get("mac"))
	if err != nil {
		writeError(w, nethttp.StatusBadRequest, err.Error())
		return
	}
	fw, arch := firmwareOf(q.Get("platform")), archOf(q.Get("buildarch"))
	res, err := s.lc.Boot(r.Context(), lifecycle.BootRequest{MAC: mac, Client: clientString(fw, arch, q.Get("uuid")), Source: remoteHost(r)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p := ipxe.ScriptParams{BaseURL: s.baseURL(r), Firmware: fw, Arch: arch, MAC: mac}
	switch res.Action.Kind {
	case boot.ActionInstall, boot.ActionRescue:
		p.Token = res.Token
		p.KernelURL = p.BaseURL + ipxe.FilesPath + s.cfg.KernelName
		p.InitrdURL = p.BaseURL + ipxe.FilesPath + s.cfg.InitrdName
		p.ExtraArgs = append([]string(nil), s.cfg.ExtraKernelArgs...)
	}
	switch {
	case res.Action.Kind == boot.ActionRescue:
		p.InitrdURLs = []string{p.BaseURL + ipxe.FilesPath + s.cfg.ToolsName, p.BaseURL + ipxe.FilesPath + s.cfg.RescueName}
	case res.Action.Kind == boot.ActionInstall && res.Action.Task != nil && res.Action.Task.Spec.OperatingSystem == boot.OSBYOLinux:
		// BYOLinux partitions, makes RAID and file systems, and mounts
		// the image: the tools layer brings the programs and modules.
		p.InitrdURLs = []string{p.BaseURL + ipxe.FilesPath + s.cfg.ToolsName}
	}
	var buf bytes.Buffer
	if err := ipxe.Script(&buf, res.Action, p); err != nil {
		s.fail(w, r, fmt.Errorf("render script for %s: %w", mac, err))
		return
	}
	writeScript(w, buf.Bytes())
}

// remoteHost is the request's source address without its port.
func remoteHost(r *nethttp.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
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
