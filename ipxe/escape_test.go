package ipxe

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func TestWord(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"plain", "console=ttyS0,115200", true},
		{"efi path", `\efi\debian\grubx64.efi`, true},
		{"quotes are literal", `a"b'c`, true},
		{"hash inside", "a#b", true},
		{"pipes inside", "a||b", true},
		{"lone dollar", "a$b", true},
		{"empty", "", false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"newline", "a\nshell", false},
		{"carriage return", "a\r", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7f", false},
		{"non-ASCII", "caf\xc3\xa9", false},
		{"expansion", "${foo}", false},
		{"unterminated expansion", "a${b", false},
		{"leading hash", "#comment", false},
		{"or", "||", false},
		{"and", "&&", false},
		{"semicolon", ";", false},
		{"trailing backslash", `\EFI\`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := word("value", tt.in)
			if tt.ok {
				if err != nil || got != tt.in {
					t.Fatalf("word(%q) = %q, %v, want %q, nil", tt.in, got, err, tt.in)
				}
				return
			}
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("word(%q) = %q, %v, want an error wrapping ErrUnsafe", tt.in, got, err)
			}
		})
	}
}

func TestOptArg(t *testing.T) {
	if _, err := optArg("x", "-n"); !errors.Is(err, ErrUnsafe) {
		t.Errorf("optArg(-n) = %v, want ErrUnsafe", err)
	}
	if got, err := optArg("x", `\a`); err != nil || got != `\a` {
		t.Errorf(`optArg(\a) = %q, %v, want \a, nil`, got, err)
	}
}

func TestURLWord(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means an error
	}{
		{"plain", "http://198.51.100.1:8080/files/vmlinuz", "http://198.51.100.1:8080/files/vmlinuz"},
		{"https", "https://example.org/a?b=c&d=e", "https://example.org/a?b=c&d=e"},
		{"space", "http://h/a b", "http://h/a%20b"},
		{"braces", "http://h/?x=${y}", "http://h/?x=$%7By%7D"},
		{"quotes and backslash", `http://h/"a"\b`, "http://h/%22a%22%5Cb"},
		{"pipe", "http://h/a||b", "http://h/a%7C%7Cb"},
		{"existing escapes kept", "http://h/a%20b", "http://h/a%20b"},
		{"ipv6", "http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"},
		{"newline", "http://h/a\nkernel x", ""},
		{"tab", "http://h/a\tb", ""},
		{"tftp", "tftp://h/x", ""},
		{"relative", "/files/vmlinuz", ""},
		{"no host", "http:///x", ""},
		{"opaque", "http:x", ""},
		{"bad escape", "http://h/%zz", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := urlWord("url", tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrUnsafe) {
					t.Fatalf("urlWord(%q) = %q, %v, want an error wrapping ErrUnsafe", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("urlWord(%q) = %q, %v, want %q, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestToken(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"q2Xo-7Zb_4kQe9VvYtR3aM1nLp8sUwC0dHfGjKiE6B5", true},
		{"a", true},
		{strings.Repeat("a", 256), true},
		{strings.Repeat("a", 257), false},
		{"", false},
		{"abc def", false},
		{"abc\nkernel", false},
		{"abc${x}", false},
		{"abc+/=", false},
	}
	for _, tt := range tests {
		_, err := token(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("token(%.20q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), tt.in) && tt.in != "" {
			t.Errorf("token(%.20q) error %q repeats the secret", tt.in, err)
		}
	}
}

func TestAnyArg(t *testing.T) {
	tests := []struct {
		name, in string
		setting  bool // whether it needs the setting indirection
		ok       bool
	}{
		{"plain word", `\efi\debian\grubx64.efi`, false, true},
		{"spaces", `\EFI\My Distro\grub.efi`, true, true},
		{"double spaces", `\EFI\a  b\x.efi`, true, true},
		{"leading hash", `#\x.efi`, true, true},
		{"terminator", "||", true, true},
		{"trailing backslash", `\EFI\`, true, true},
		{"leading space", ` \x.efi`, true, true},
		{"quotes", `\"a b"\'c'.efi`, true, true},
		{"newline", "\\a\nsanboot", false, false},
		{"expansion", `\${x}.efi`, false, false},
		{"tab", "\\a\tb", false, false},
		{"non-ASCII", "\\\xc3\xa9.efi", false, false},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := anyArg("path", "byoi_efi_path", tt.in)
			if !tt.ok {
				if !errors.Is(err, ErrUnsafe) {
					t.Fatalf("anyArg(%q) = %+v, %v, want an error wrapping ErrUnsafe", tt.in, a, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("anyArg(%q) = %v, want nil", tt.in, err)
			}
			if (a.Name != "") != tt.setting {
				t.Errorf("anyArg(%q) = %+v, setting indirection %v, want %v", tt.in, a, a.Name != "", tt.setting)
			}
			// Read it back the way iPXE would.
			script := "#!ipxe\n"
			if a.Name != "" {
				script += "set " + a.Name + ":hex " + a.Hex + "\n"
			}
			script += "sanboot --filename " + a.Ref() + " ||\n"
			s, err := parseIPXE(script, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := s.find("sanboot")
			if len(c) != 1 {
				t.Fatalf("script %q: %d sanboot commands, want 1", script, len(c))
			}
			if got, _ := optValue(c[0].Argv, "filename"); got != tt.in {
				t.Errorf("--filename reads back as %q, want %q", got, tt.in)
			}
		})
	}
}

// TestScriptHostile puts hostile values in every field a user or operator
// controls: each either renders a script that iPXE reads back with exactly
// the intended commands and values, or is refused with nothing written.
func TestScriptHostile(t *testing.T) {
	hostile := []string{
		"a\nchain http://evil/x", "${foo}", "|| shell", "a b", "#x", "'q'", `"q"`, `\x\`, `a\`,
		"&&", ";", "a\r", "a\x00", "\t", "-n", "x${net0/ip}y",
	}
	task := &boot.Task{ID: 9}
	for _, v := range hostile {
		fields := map[string]func() (boot.Action, ScriptParams){
			"machine": func() (boot.Action, ScriptParams) {
				return boot.Action{Kind: boot.ActionInstall, Machine: v, Task: task}, installParams(boot.FirmwareEFI, boot.ArchX86_64)
			},
			"reason": func() (boot.Action, ScriptParams) {
				return boot.Action{Kind: boot.ActionExit, Reason: v}, installParams(boot.FirmwareEFI, boot.ArchX86_64)
			},
			"efi path": func() (boot.Action, ScriptParams) {
				return boot.Action{Kind: boot.ActionLocal, Machine: "m", EFIBootloaderPath: `\` + v}, installParams(boot.FirmwareEFI, boot.ArchX86_64)
			},
			"extra arg": func() (boot.Action, ScriptParams) {
				p := installParams(boot.FirmwareBIOS, boot.ArchI386)
				p.ExtraArgs = []string{v}
				return boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, p
			},
			"token": func() (boot.Action, ScriptParams) {
				p := installParams(boot.FirmwareEFI, boot.ArchX86_64)
				p.Token = v
				return boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, p
			},
			"kernel url": func() (boot.Action, ScriptParams) {
				p := installParams(boot.FirmwareEFI, boot.ArchX86_64)
				p.KernelURL = testBase + "/" + v
				return boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, p
			},
			"layer url": func() (boot.Action, ScriptParams) {
				p := installParams(boot.FirmwareEFI, boot.ArchX86_64)
				p.InitrdURLs = []string{testBase + "/files/tools.img", testBase + "/" + v}
				return boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, p
			},
			"rescue machine": func() (boot.Action, ScriptParams) {
				p := installParams(boot.FirmwareBIOS, boot.ArchI386)
				p.InitrdURLs = []string{testBase + "/files/tools.img", testBase + "/files/rescue.img"}
				return boot.Action{Kind: boot.ActionRescue, Machine: v}, p
			},
			"rescue extra arg": func() (boot.Action, ScriptParams) {
				p := installParams(boot.FirmwareEFI, boot.ArchX86_64)
				p.ExtraArgs = []string{v}
				return boot.Action{Kind: boot.ActionRescue, Machine: "m"}, p
			},
			"mac": func() (boot.Action, ScriptParams) {
				p := installParams(boot.FirmwareEFI, boot.ArchX86_64)
				p.MAC = v
				return boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, p
			},
		}
		for field, mk := range fields {
			t.Run(field+"/"+v, func(t *testing.T) {
				a, p := mk()
				checkRendered(t, a, p)
			})
		}
	}
}

// checkRendered renders a script and, when it renders, checks iPXE reads
// it back with the commands and values intended; on error nothing is written.
func checkRendered(t *testing.T, a boot.Action, p ScriptParams) {
	t.Helper()
	var buf bytes.Buffer
	err := Script(&buf, a, p)
	if err != nil {
		if buf.Len() != 0 {
			t.Fatalf("Script wrote %d bytes with error %v, want 0", buf.Len(), err)
		}
		return
	}
	s, perr := parseIPXE(buf.String(), nil)
	if perr != nil {
		t.Fatalf("rendered script does not parse: %v\n%s", perr, buf.String())
	}
	want := expectedCommands(a, p)
	if diff := cmp.Diff(want, s.names()); diff != "" {
		t.Fatalf("commands (-want +got):\n%s\nscript:\n%s", diff, buf.String())
	}
	switch a.Kind {
	case boot.ActionInstall, boot.ActionRescue:
		k := s.find("kernel")[0].Argv
		mac, _ := boot.NormalizeMAC(p.MAC)
		own := "byoi.mode=rescue"
		if a.Kind == boot.ActionInstall {
			own = "byoi.task=" + itoa(a.Task.ID)
		}
		wantArgs := append([]string{
			"BOOTIF=01-" + strings.ReplaceAll(mac, ":", "-"),
			"byoi.server=" + strings.TrimSuffix(p.BaseURL, "/"),
			own,
			"byoi.token=" + p.Token,
		}, p.ExtraArgs...)
		if diff := cmp.Diff(wantArgs, k[2:]); diff != "" {
			t.Fatalf("kernel arguments (-want +got):\n%s", diff)
		}
		// Each URL reaches its own initrd command whole (as urlWord
		// escaped it), in order.
		var initrds, wantInitrds []string
		for _, c := range s.find("initrd") {
			initrds = append(initrds, c.Argv[1:]...)
		}
		for _, u := range append([]string{p.InitrdURL}, p.InitrdURLs...) {
			w, _ := urlWord("initrd URL", u)
			wantInitrds = append(wantInitrds, w)
		}
		if diff := cmp.Diff(wantInitrds, initrds); diff != "" {
			t.Fatalf("initrd URLs (-want +got):\n%s", diff)
		}
	case boot.ActionLocal:
		if p.Firmware == boot.FirmwareEFI && a.EFIBootloaderPath != "" {
			got, _ := optValue(s.find("sanboot")[0].Argv, "filename")
			if want := strings.ReplaceAll(a.EFIBootloaderPath, "/", `\`); got != want {
				t.Fatalf("sanboot --filename = %q, want %q", got, want)
			}
		}
	}
}

// expectedCommands is the command list every rendering of an action must
// produce, whatever the values.
func expectedCommands(a boot.Action, p ScriptParams) []string {
	switch a.Kind {
	case boot.ActionInstall, boot.ActionRescue:
		out := []string{"echo", "kernel", "goto"}
		for range 1 + len(p.InitrdURLs) {
			out = append(out, "initrd", "goto")
		}
		return append(out, "boot", "goto", "echo", "exit")
	case boot.ActionLocal:
		if p.Firmware == boot.FirmwareBIOS {
			return []string{"echo", "sanboot", "echo", "exit"}
		}
		var out []string
		path := strings.ReplaceAll(a.EFIBootloaderPath, "/", `\`)
		if path != "" {
			if _, err := word("", path); err != nil {
				out = append(out, "set")
			}
			out = append(out, "echo", "sanboot")
		}
		if d := DefaultEFIPath(p.Arch); d != "" && !strings.EqualFold(d, path) {
			out = append(out, "echo", "sanboot")
		}
		return append(out, "echo", "exit")
	default:
		return []string{"echo", "exit"}
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestScriptErrors(t *testing.T) {
	good := installParams(boot.FirmwareEFI, boot.ArchX86_64)
	task := &boot.Task{ID: 3}
	tests := []struct {
		name string
		a    boot.Action
		p    func(p *ScriptParams)
	}{
		{"install without task", boot.Action{Kind: boot.ActionInstall, Machine: "m"}, nil},
		{"install task id 0", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: &boot.Task{}}, nil},
		{"install bad MAC", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.MAC = "zz" }},
		{"install no kernel", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.KernelURL = "" }},
		{"install no initrd", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.InitrdURL = "" }},
		{"install no token", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.Token = "" }},
		{"install reserved arg", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.ExtraArgs = []string{"byoi.token=x"} }},
		{"install reserved BOOTIF", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.ExtraArgs = []string{"BOOTIF=01-00"} }},
		{"install command line too long", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.ExtraArgs = []string{strings.Repeat("x", 2000)} }},
		{"install reserved mode", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.ExtraArgs = []string{"byoi.mode=rescue"} }},
		{"install bad layer URL", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.InitrdURLs = []string{"tools.img"} }},
		{"install empty layer URL", boot.Action{Kind: boot.ActionInstall, Machine: "m", Task: task}, func(p *ScriptParams) { p.InitrdURLs = []string{""} }},
		{"rescue bad MAC", boot.Action{Kind: boot.ActionRescue, Machine: "m"}, func(p *ScriptParams) { p.MAC = "" }},
		{"rescue no token", boot.Action{Kind: boot.ActionRescue, Machine: "m"}, func(p *ScriptParams) { p.Token = "" }},
		{"rescue no kernel", boot.Action{Kind: boot.ActionRescue, Machine: "m"}, func(p *ScriptParams) { p.KernelURL = "" }},
		{"rescue reserved task", boot.Action{Kind: boot.ActionRescue, Machine: "m"}, func(p *ScriptParams) { p.ExtraArgs = []string{"byoi.task=1"} }},
		{"rescue reserved mode", boot.Action{Kind: boot.ActionRescue, Machine: "m"}, func(p *ScriptParams) { p.ExtraArgs = []string{"byoi.mode=install"} }},
		{"local unknown firmware", boot.Action{Kind: boot.ActionLocal, Machine: "m"}, func(p *ScriptParams) { p.Firmware = "" }},
		{"local relative efi path", boot.Action{Kind: boot.ActionLocal, Machine: "m", EFIBootloaderPath: `efi\x.efi`}, nil},
		{"local dotdot efi path", boot.Action{Kind: boot.ActionLocal, Machine: "m", EFIBootloaderPath: `\efi\..\x.efi`}, nil},
		{"unknown action", boot.Action{Kind: boot.ActionKind(99)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			p.ExtraArgs = append([]string(nil), good.ExtraArgs...)
			if tt.p != nil {
				tt.p(&p)
			}
			var buf bytes.Buffer
			if err := Script(&buf, tt.a, p); err == nil {
				t.Fatalf("Script(%+v) = nil, want an error; wrote:\n%s", tt.a, buf.String())
			}
			if buf.Len() != 0 {
				t.Errorf("Script wrote %d bytes on error, want 0", buf.Len())
			}
		})
	}
}
