package ipxe

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", name, diff)
	}
}

// builtins are what iPXE would expand the bootstrap's variables to.
var builtins = map[string]string{
	"netX/mac:hexhyp": "52-54-00-12-34-56",
	"platform":        "efi",
	"buildarch":       "x86_64",
	"uuid":            "8c1a4f52-8a6b-4c1e-9f3e-0a1b2c3d4e5f",
}

const testBase = "http://198.51.100.1:8080"

func installParams(fw boot.Firmware, arch boot.Arch) ScriptParams {
	return ScriptParams{
		BaseURL:   testBase,
		Firmware:  fw,
		Arch:      arch,
		MAC:       "52:54:00:12:34:56",
		KernelURL: testBase + "/files/vmlinuz",
		InitrdURL: testBase + "/files/initrd.img",
		Token:     "q2Xo-7Zb_4kQe9VvYtR3aM1nLp8sUwC0dHfGjKiE6B5",
		ExtraArgs: []string{"console=ttyS0,115200", "byoi.poweroff=1"},
	}
}

func TestBootstrapGolden(t *testing.T) {
	tests := []struct {
		name   string
		p      BootstrapParams
		golden string
	}{
		{"defaults", BootstrapParams{BaseURL: testBase}, "bootstrap.ipxe"},
		{"trailing slash, 3 attempts, 2s", BootstrapParams{BaseURL: testBase + "/", Attempts: 3, RetryDelay: 2 * time.Second}, "bootstrap-3.ipxe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Bootstrap(&buf, tt.p); err != nil {
				t.Fatalf("Bootstrap(%+v) = %v, want nil", tt.p, err)
			}
			golden(t, tt.golden, buf.Bytes())

			s, err := parseIPXE(buf.String(), builtins)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			p, _ := tt.p.withDefaults()
			var want []string
			for range p.Attempts {
				want = append(want, "echo", "imgfetch", "goto", "sleep")
			}
			want = append(want, "echo", "exit", "imgexec")
			if diff := cmp.Diff(want, s.names()); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			wantURL := testBase + "/ipxe/machine?mac=52-54-00-12-34-56&platform=efi&buildarch=x86_64&uuid=8c1a4f52-8a6b-4c1e-9f3e-0a1b2c3d4e5f"
			for _, c := range s.find("imgfetch") {
				if got := c.Argv[len(c.Argv)-1]; got != wantURL || c.Sep != "&&" {
					t.Errorf("line %d: imgfetch URL %q sep %q, want %q sep &&", c.Line, got, c.Sep, wantURL)
				}
			}
			if diff := cmp.Diff([]string{"byoi_run"}, s.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBootstrapErrors(t *testing.T) {
	tests := []struct {
		name string
		p    BootstrapParams
	}{
		{"empty base", BootstrapParams{}},
		{"not http", BootstrapParams{BaseURL: "tftp://198.51.100.1"}},
		{"query", BootstrapParams{BaseURL: testBase + "?x=1"}},
		{"fragment", BootstrapParams{BaseURL: testBase + "#x"}},
		{"newline", BootstrapParams{BaseURL: testBase + "\nshell"}},
		{"too many attempts", BootstrapParams{BaseURL: testBase, Attempts: 101}},
		{"negative attempts", BootstrapParams{BaseURL: testBase, Attempts: -1}},
		{"sub-second delay", BootstrapParams{BaseURL: testBase, RetryDelay: time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Bootstrap(&buf, tt.p); err == nil {
				t.Fatalf("Bootstrap(%+v) = nil, want an error", tt.p)
			}
			if buf.Len() != 0 {
				t.Errorf("Bootstrap(%+v) wrote %d bytes on error, want 0", tt.p, buf.Len())
			}
		})
	}
}

// scriptCase is one action × firmware combination with its expected reading.
type scriptCase struct {
	name   string
	action boot.Action
	p      ScriptParams
	golden string
	// commands iPXE runs, in order.
	want []string
	// sanboot --filename values, in order (EFI local boot only).
	filenames []string
}

func scriptCases() []scriptCase {
	task := &boot.Task{ID: 42, Machine: "web-1", Status: boot.StatusTodo}
	install := boot.Action{Kind: boot.ActionInstall, Machine: "web-1", Task: task, Reason: "task pending"}
	local := boot.Action{Kind: boot.ActionLocal, Machine: "web-1", Reason: "installed", EFIBootloaderPath: `\efi\debian\grubx64.efi`}
	localNoPath := local
	localNoPath.EFIBootloaderPath = ""
	localSpaces := local
	localSpaces.EFIBootloaderPath = `\EFI\My Distro\#1 "grub".efi`
	localSlashes := local
	localSlashes.EFIBootloaderPath = "/EFI/BOOT/bootx64.efi"
	exitUnknown := boot.Action{Kind: boot.ActionExit, Machine: "discovered-525400123456", Reason: "unknown machine"}
	exitIdle := boot.Action{Kind: boot.ActionExit, Machine: "web-1", Reason: "nothing to install"}

	rescue := boot.Action{Kind: boot.ActionRescue, Machine: "web-1", Reason: "rescue requested"}
	withLayers := func(p ScriptParams, layers ...string) ScriptParams {
		for _, l := range layers {
			p.InitrdURLs = append(p.InitrdURLs, testBase+"/files/"+l)
		}
		return p
	}

	installCmds := []string{"echo", "kernel", "goto", "initrd", "goto", "boot", "goto", "echo", "exit"}
	layeredCmds := []string{"echo", "kernel", "goto", "initrd", "goto", "initrd", "goto", "boot", "goto", "echo", "exit"}
	rescueCmds := []string{"echo", "kernel", "goto", "initrd", "goto", "initrd", "goto", "initrd", "goto", "boot", "goto", "echo", "exit"}
	efiCmds := []string{"echo", "sanboot", "echo", "sanboot", "echo", "exit"}
	return []scriptCase{
		{"install efi x86_64", install, installParams(boot.FirmwareEFI, boot.ArchX86_64), "install-efi.ipxe", installCmds, nil},
		{"install pcbios", install, installParams(boot.FirmwareBIOS, boot.ArchI386), "install-pcbios.ipxe", installCmds, nil},
		{"install efi with the tools layer", install, withLayers(installParams(boot.FirmwareEFI, boot.ArchX86_64), "tools.img"),
			"install-efi-layers.ipxe", layeredCmds, nil},
		{"rescue efi", rescue, withLayers(installParams(boot.FirmwareEFI, boot.ArchX86_64), "tools.img", "rescue.img"),
			"rescue-efi.ipxe", rescueCmds, nil},
		{"rescue pcbios", rescue, withLayers(installParams(boot.FirmwareBIOS, boot.ArchI386), "tools.img", "rescue.img"),
			"rescue-pcbios.ipxe", rescueCmds, nil},
		{"local efi x86_64", local, installParams(boot.FirmwareEFI, boot.ArchX86_64), "local-efi.ipxe", efiCmds,
			[]string{`\efi\debian\grubx64.efi`, `\EFI\BOOT\BOOTX64.EFI`}},
		{"local efi arm64", local, installParams(boot.FirmwareEFI, boot.ArchARM64), "local-efi-arm64.ipxe", efiCmds,
			[]string{`\efi\debian\grubx64.efi`, `\EFI\BOOT\BOOTAA64.EFI`}},
		{"local efi default path only", localNoPath, installParams(boot.FirmwareEFI, boot.ArchX86_64), "local-efi-default.ipxe",
			[]string{"echo", "sanboot", "echo", "exit"}, []string{`\EFI\BOOT\BOOTX64.EFI`}},
		{"local efi path is the default", localSlashes, installParams(boot.FirmwareEFI, boot.ArchX86_64), "local-efi-same.ipxe",
			[]string{"echo", "sanboot", "echo", "exit"}, []string{`\EFI\BOOT\bootx64.efi`}},
		{"local efi path with spaces, # and quotes", localSpaces, installParams(boot.FirmwareEFI, boot.ArchX86_64), "local-efi-escaped.ipxe",
			append([]string{"set"}, efiCmds...), []string{`\EFI\My Distro\#1 "grub".efi`, `\EFI\BOOT\BOOTX64.EFI`}},
		{"local efi unknown arch", local, installParams(boot.FirmwareEFI, boot.ArchUnknown), "local-efi-noarch.ipxe",
			[]string{"echo", "sanboot", "echo", "exit"}, []string{`\efi\debian\grubx64.efi`}},
		{"local pcbios", local, installParams(boot.FirmwareBIOS, boot.ArchI386), "local-pcbios.ipxe",
			[]string{"echo", "sanboot", "echo", "exit"}, nil},
		{"exit efi unknown machine", exitUnknown, installParams(boot.FirmwareEFI, boot.ArchX86_64), "exit-efi.ipxe", []string{"echo", "exit"}, nil},
		{"exit pcbios nothing to install", exitIdle, installParams(boot.FirmwareBIOS, boot.ArchI386), "exit-pcbios.ipxe", []string{"echo", "exit"}, nil},
	}
}

func TestScriptGolden(t *testing.T) {
	for _, tt := range scriptCases() {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Script(&buf, tt.action, tt.p); err != nil {
				t.Fatalf("Script(%v) = %v, want nil", tt.action.Kind, err)
			}
			golden(t, tt.golden, buf.Bytes())
			s, err := parseIPXE(buf.String(), nil)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, s.names()); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			var files []string
			for _, c := range s.find("sanboot") {
				if f, ok := optValue(c.Argv, "filename"); ok {
					files = append(files, f)
				}
				if c.Sep != "||" {
					t.Errorf("line %d: sanboot without a trailing ||: a failure would end the script", c.Line)
				}
			}
			if diff := cmp.Diff(tt.filenames, files); diff != "" {
				t.Errorf("sanboot --filename values (-want +got):\n%s", diff)
			}
			checkEchoes(t, tt.action, s)
		})
	}
}

// checkEchoes asserts the serial markers the e2e suite waits for.
func checkEchoes(t *testing.T, a boot.Action, s ipxeScript) {
	t.Helper()
	echoes := s.find("echo")
	if len(echoes) == 0 {
		t.Fatal("no echo line")
	}
	first := strings.Join(echoes[0].Argv[1:], " ")
	prefix := map[boot.ActionKind]string{
		boot.ActionInstall: "byoi: installing",
		boot.ActionRescue:  "byoi: rescue system for",
		boot.ActionLocal:   "byoi: local boot",
		boot.ActionExit:    "byoi: exit",
	}[a.Kind]
	if !strings.HasPrefix(first, prefix) {
		t.Errorf("first echo = %q, want prefix %q", first, prefix)
	}
	last := s.Commands[len(s.Commands)-1]
	if diff := cmp.Diff([]string{"exit", "1"}, last.Argv); diff != "" {
		t.Errorf("last command (-want +got):\n%s", diff)
	}
}

func TestInstallKernelLine(t *testing.T) {
	for _, fw := range []boot.Firmware{boot.FirmwareEFI, boot.FirmwareBIOS} {
		t.Run(string(fw), func(t *testing.T) {
			p := installParams(fw, boot.ArchX86_64)
			a := boot.Action{Kind: boot.ActionInstall, Machine: "web-1", Task: &boot.Task{ID: 7}}
			var buf bytes.Buffer
			if err := Script(&buf, a, p); err != nil {
				t.Fatal(err)
			}
			s, err := parseIPXE(buf.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := [][]string{{"kernel", p.KernelURL, "BOOTIF=01-52-54-00-12-34-56", "byoi.server=" + testBase,
				"byoi.task=7", "byoi.token=" + p.Token, "console=ttyS0,115200", "byoi.poweroff=1"}}
			var got [][]string
			for _, c := range s.find("kernel") {
				got = append(got, c.Argv)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kernel command (-want +got):\n%s", diff)
			}
			if c := s.find("initrd"); len(c) != 1 || !cmp.Equal(c[0].Argv, []string{"initrd", p.InitrdURL}) {
				t.Errorf("initrd commands = %v, want one: initrd %s", c, p.InitrdURL)
			}
		})
	}
}

func TestRescueKernelLine(t *testing.T) {
	p := installParams(boot.FirmwareEFI, boot.ArchX86_64)
	p.InitrdURLs = []string{testBase + "/files/tools.img", testBase + "/files/rescue.img"}
	a := boot.Action{Kind: boot.ActionRescue, Machine: "web-1"}
	var buf bytes.Buffer
	if err := Script(&buf, a, p); err != nil {
		t.Fatal(err)
	}
	s, err := parseIPXE(buf.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"kernel", p.KernelURL, "BOOTIF=01-52-54-00-12-34-56", "byoi.server=" + testBase,
		"byoi.mode=rescue", "byoi.token=" + p.Token, "console=ttyS0,115200", "byoi.poweroff=1"}}
	var got [][]string
	for _, c := range s.find("kernel") {
		got = append(got, c.Argv)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kernel command (-want +got):\n%s", diff)
	}
	// The kernel unpacks the initrds in the order iPXE loaded them: the
	// layers must come after the installer's initramfs, tools before rescue.
	wantInitrds := [][]string{{"initrd", p.InitrdURL}, {"initrd", p.InitrdURLs[0]}, {"initrd", p.InitrdURLs[1]}}
	var initrds [][]string
	for _, c := range s.find("initrd") {
		initrds = append(initrds, c.Argv)
		if c.Sep != "||" {
			t.Errorf("line %d: initrd without a trailing ||: a failure would end the script", c.Line)
		}
	}
	if diff := cmp.Diff(wantInitrds, initrds); diff != "" {
		t.Errorf("initrd commands (-want +got):\n%s", diff)
	}
}
