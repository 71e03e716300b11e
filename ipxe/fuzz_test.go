package ipxe

import (
	"bytes"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
)

// FuzzScript renders every action with fuzzed values in every field a user
// or operator controls (the kernel path also names an initrd layer), reads the script back as iPXE would, and fails when
// a value changed the list of commands iPXE runs (an injected command, a
// swallowed line, a comment) or reached its command altered.
func FuzzScript(f *testing.F) {
	seeds := [][6]string{
		{"web-1", "unknown machine", `\efi\debian\grubx64.efi`, "console=ttyS0", "tok_en-1", "vmlinuz"},
		{"a\nchain http://evil/", "x || shell", `\EFI\a b\#c.efi`, "${net0/ip}", "a b", "a b"},
		{"#m", "&&", `\EFI\x\`, "||", "\r", "${x}"},
		{"m", ";", `/EFI/BOOT/BOOTX64.EFI`, `"q" 'q'`, "-", `\x\`},
		{"", "", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	f.Fuzz(func(t *testing.T, machine, reason, efiPath, extra, tok, kernelPath string) {
		task := &boot.Task{ID: 12}
		p := installParams(boot.FirmwareEFI, boot.ArchX86_64)
		p.Token = tok
		p.KernelURL = testBase + "/" + kernelPath
		p.ExtraArgs = []string{extra}
		p.InitrdURLs = []string{testBase + "/layers/" + kernelPath}
		actions := []boot.Action{
			{Kind: boot.ActionInstall, Machine: machine, Task: task},
			{Kind: boot.ActionRescue, Machine: machine},
			{Kind: boot.ActionLocal, Machine: machine, EFIBootloaderPath: efiPath},
			{Kind: boot.ActionExit, Machine: machine, Reason: reason},
		}
		for _, fw := range []boot.Firmware{boot.FirmwareEFI, boot.FirmwareBIOS} {
			p.Firmware = fw
			for _, a := range actions {
				checkRendered(t, a, p)
				checkNoStrayLines(t, a, p)
			}
		}
	})
}

// checkNoStrayLines asserts, independently of the parser model, that every
// rendered line is a comment, a label, blank, or starts with a command the
// templates use.
func checkNoStrayLines(t *testing.T, a boot.Action, p ScriptParams) {
	t.Helper()
	var buf bytes.Buffer
	if err := Script(&buf, a, p); err != nil {
		return
	}
	allowed := map[string]bool{"echo": true, "kernel": true, "initrd": true, "boot": true, "goto": true,
		"sanboot": true, "set": true, "exit": true}
	for i, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0, strings.HasPrefix(f[0], "#"), strings.HasPrefix(f[0], ":"):
		case !allowed[f[0]]:
			t.Fatalf("line %d starts with %q:\n%s", i+1, f[0], buf.String())
		}
		if strings.HasSuffix(line, `\`) {
			t.Fatalf("line %d ends in a backslash (joins the next line):\n%s", i+1, buf.String())
		}
	}
}

// FuzzEFIPathRule: boot.ValidateEFIPath is the one rule for efiBootloaderPath
// on every route that stores it and in the renderer. Anything it accepts
// must render, on every firmware and architecture, and reach sanboot as
// written (checkRendered reads the script back as iPXE would); anything the
// renderer refuses, the rule must refuse too.
func FuzzEFIPathRule(f *testing.F) {
	for _, s := range []string{`\efi\debian\grubx64.efi`, `/EFI/BOOT/BOOTX64.EFI`, `\EFI\a b\#c.efi`,
		`\efi\${net0/mac}`, `\efi\$\{x}`, `\x\`, `\efi\..\x`, "\\efi\\\x00", `\ `, `\#`, `\-x`, `\ || shell`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		ruleOK := boot.ValidateEFIPath(path) == nil
		for _, fw := range []boot.Firmware{boot.FirmwareEFI, boot.FirmwareBIOS} {
			for _, arch := range []boot.Arch{boot.ArchX86_64, boot.ArchARM64} {
				p := installParams(fw, arch)
				a := boot.Action{Kind: boot.ActionLocal, Machine: "web-1", EFIBootloaderPath: path}
				var buf bytes.Buffer
				err := Script(&buf, a, p)
				if ruleOK && err != nil {
					t.Fatalf("ValidateEFIPath(%q) accepts it but Script(%s/%s) = %v", path, fw, arch, err)
				}
				if err == nil {
					checkRendered(t, a, p)
				}
			}
		}
	})
}
