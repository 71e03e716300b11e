package ipxe

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/template"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
)

//go:embed templates/*.ipxe
var templateFS embed.FS

// templates are parsed once; they are never changed afterwards.
var templates = template.Must(template.New("ipxe").Option("missingkey=error").ParseFS(templateFS, "templates/*.ipxe"))

// render executes a template into a buffer and writes it only when the whole
// script rendered and is plain printable ASCII lines.
func render(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("ipxe: render %s: %w", name, err)
	}
	for i, c := range buf.Bytes() {
		if (c < ' ' && c != '\n') || c >= 0x7f {
			return fmt.Errorf("ipxe: render %s: byte %#x at offset %d: %w", name, c, i, ErrUnsafe)
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// machinePath is the per-machine script's path on the server, with the iPXE
// variables that identify the machine.
const machinePath = "/ipxe/machine?mac=${netX/mac:hexhyp}&platform=${platform}&buildarch=${buildarch}&uuid=${uuid}"

type bootstrapView struct {
	URL      string
	Attempts []int
	Total    int
	Delay    int // seconds
}

func bootstrapData(p BootstrapParams) (bootstrapView, error) {
	p, err := p.withDefaults()
	if err != nil {
		return bootstrapView{}, err
	}
	base, err := baseURL(p.BaseURL)
	if err != nil {
		return bootstrapView{}, err
	}
	v := bootstrapView{URL: base + machinePath, Total: p.Attempts, Delay: int(p.RetryDelay.Seconds())}
	for i := 1; i <= p.Attempts; i++ {
		v.Attempts = append(v.Attempts, i)
	}
	return v, nil
}

// maxCmdline is Linux's x86 COMMAND_LINE_SIZE (arm64 allows 4096), minus
// the terminating NUL.
const maxCmdline = 2047

// reservedArgs are the kernel arguments byoi sets itself.
var reservedArgs = []string{agentapi.ParamBootIf + "=", agentapi.ParamServer + "=", agentapi.ParamTask + "=",
	agentapi.ParamToken + "=", agentapi.ParamMode + "="}

// agentView fills the scripts that boot byoi's agent: install and rescue.
type agentView struct {
	Machine string
	TaskID  int64 // install only
	Kernel  string
	Initrds []string
	Args    []string
}

func installData(a boot.Action, p ScriptParams) (agentView, error) {
	if a.Task == nil || a.Task.ID <= 0 {
		return agentView{}, fmt.Errorf("ipxe: install on %q: no task", a.Machine)
	}
	v, err := agentData(a, p, fmt.Sprintf("install task %d", a.Task.ID),
		agentapi.ParamTask+"="+strconv.FormatInt(a.Task.ID, 10))
	v.TaskID = a.Task.ID
	return v, err
}

func rescueData(a boot.Action, p ScriptParams) (agentView, error) {
	return agentData(a, p, fmt.Sprintf("rescue of %q", a.Machine), agentapi.ParamMode+"="+agentapi.ModeRescue)
}

// agentData checks and places what boots the agent: kernel, initrds, and
// the command line BOOTIF, byoi.server, the action's own argument,
// byoi.token, then the operator's extra arguments.
func agentData(a boot.Action, p ScriptParams, what, own string) (agentView, error) {
	mac, err := boot.NormalizeMAC(p.MAC)
	if err != nil {
		return agentView{}, fmt.Errorf("ipxe: %s: %w", what, err)
	}
	var v agentView
	if v.Machine, err = display(a.Machine, mac); err != nil {
		return agentView{}, err
	}
	base, err := baseURL(p.BaseURL)
	if err != nil {
		return agentView{}, err
	}
	if v.Kernel, err = urlWord("kernel URL", p.KernelURL); err != nil {
		return agentView{}, err
	}
	for _, u := range append([]string{p.InitrdURL}, p.InitrdURLs...) {
		w, err := urlWord("initrd URL", u)
		if err != nil {
			return agentView{}, err
		}
		v.Initrds = append(v.Initrds, w)
	}
	tok, err := token(p.Token)
	if err != nil {
		return agentView{}, err
	}
	v.Args = []string{
		agentapi.ParamBootIf + "=01-" + strings.ReplaceAll(mac, ":", "-"),
		agentapi.ParamServer + "=" + base,
		own,
		agentapi.ParamToken + "=" + tok,
	}
	for _, x := range p.ExtraArgs {
		w, err := word("kernel argument", x)
		if err != nil {
			return agentView{}, err
		}
		for _, r := range reservedArgs {
			if strings.HasPrefix(w, r) {
				return agentView{}, fmt.Errorf("ipxe: kernel argument %q: byoi sets %s itself", x, strings.TrimSuffix(r, "="))
			}
		}
		v.Args = append(v.Args, w)
	}
	if n := len(strings.Join(v.Args, " ")); n > maxCmdline {
		return agentView{}, fmt.Errorf("ipxe: kernel command line of %d bytes: at most %d fit", n, maxCmdline)
	}
	return v, nil
}

// defaultEFIPaths are the removable-media boot loader paths of the UEFI
// specification, per iPXE build architecture.
var defaultEFIPaths = map[boot.Arch]string{
	boot.ArchX86_64: `\EFI\BOOT\BOOTX64.EFI`,
	boot.ArchARM64:  `\EFI\BOOT\BOOTAA64.EFI`,
	boot.ArchI386:   `\EFI\BOOT\BOOTIA32.EFI`,
	boot.ArchARM32:  `\EFI\BOOT\BOOTARM.EFI`,
}

// DefaultEFIPath returns the removable-media boot loader path for an
// architecture, or "" when there is none.
func DefaultEFIPath(a boot.Arch) string { return defaultEFIPaths[a] }

type localView struct {
	Machine  string
	Path     *Arg   // the requested boot loader, if any
	Fallback string // the removable-media default, if any and different
}

func localEFIData(a boot.Action, p ScriptParams) (localView, error) {
	var v localView
	var err error
	if v.Machine, err = display(a.Machine, p.MAC); err != nil {
		return localView{}, err
	}
	v.Fallback = DefaultEFIPath(p.Arch)
	if a.EFIBootloaderPath != "" {
		if err := boot.ValidateEFIPath(a.EFIBootloaderPath); err != nil {
			return localView{}, fmt.Errorf("ipxe: local boot of %q: %w: %w", a.Machine, err, ErrUnsafe)
		}
		// UEFI file paths separate components with backslashes; the FAT
		// driver treats '/' as part of a name.
		path := strings.ReplaceAll(a.EFIBootloaderPath, "/", `\`)
		arg, err := anyArg("efiBootloaderPath", "byoi_efi_path", path)
		if err != nil {
			return localView{}, err
		}
		v.Path = &arg
		if strings.EqualFold(path, v.Fallback) {
			v.Fallback = ""
		}
	}
	return v, nil
}

func localBIOSData(a boot.Action) (localView, error) {
	m, err := display(a.Machine, "")
	return localView{Machine: m}, err
}

type exitView struct {
	Machine string
	Reason  string
}

func exitData(a boot.Action) (exitView, error) {
	reason := a.Reason
	if reason == "" {
		reason = "nothing to boot"
	}
	r, err := text("reason", reason)
	if err != nil {
		return exitView{}, err
	}
	m, err := text("machine name", a.Machine)
	if err != nil {
		return exitView{}, err
	}
	return exitView{Machine: m, Reason: r}, nil
}

// display is the machine's name for echo lines, or the fallback (its MAC),
// or "this machine".
func display(name, fallback string) (string, error) {
	switch {
	case name != "":
		return text("machine name", name)
	case fallback != "":
		return text("MAC", fallback)
	}
	return "this machine", nil
}

// text checks free text for an echo line: words that are each a plain word
// (see word), separated by single spaces.
func text(what, v string) (string, error) {
	if err := checkPrintable(what, v, true); err != nil {
		return "", err
	}
	words := strings.Fields(v)
	for _, w := range words {
		if _, err := word(what, w); err != nil {
			return "", err
		}
	}
	return strings.Join(words, " "), nil
}
