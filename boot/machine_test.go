package boot

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeMAC(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"52:54:00:12:34:56", "52:54:00:12:34:56"},
		{"52:54:00:AB:CD:EF", "52:54:00:ab:cd:ef"},
		{"52-54-00-ab-cd-ef", "52:54:00:ab:cd:ef"}, // iPXE ${mac:hexhyp}
		{"5254.00ab.cdef", "52:54:00:ab:cd:ef"},
		{"  52:54:00:ab:cd:ef\n", "52:54:00:ab:cd:ef"},
		{"", ""},
		{"52:54:00:ab:cd", ""},
		{"52:54:00:ab:cd:ef:01:02", ""}, // EUI-64
		{"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01", ""}, // InfiniBand
		{"zz:54:00:ab:cd:ef", ""},
		{"525400abcdef", "52:54:00:ab:cd:ef"}, // net.ParseMAC accepts bare hex
		{"52:54:00:ab:cd:ef;x", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeMAC(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeMAC(%q) = %q, nil; want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeMAC(%q) = %q, %v; want %q, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestValidateEFIPath(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"debian", `\efi\debian\grubx64.efi`, true},
		{"removable", `\EFI\BOOT\BOOTX64.EFI`, true},
		{"forward slashes", "/EFI/BOOT/BOOTX64.EFI", true},
		{"spaces", `\EFI\My Distro\grub.efi`, true},
		{"255 chars", `\` + strings.Repeat("a", 254), true},
		{"empty", "", false},
		{"256 chars", `\` + strings.Repeat("a", 255), false},
		{"relative", `efi\debian\grubx64.efi`, false},
		{"dot dot", `\efi\..\grubx64.efi`, false},
		{"dot", `\efi\.\grubx64.efi`, false},
		{"dot dot with slash", "/efi/../x.efi", false},
		{"newline", "\\efi\ngrub.efi", false},
		{"tab", "\\efi\tgrub.efi", false},
		{"NUL", "\\efi\x00", false},
		{"DEL", "\\efi\x7f", false},
		{"non-ASCII", "\\\u00e9fi\\x.efi", false},
		{"iPXE expansion", `\efi\${net0/mac}\grubx64.efi`, false},
		{"iPXE expansion at the end", `\efi\grub${`, false},
		{"dollar alone", `\efi\$x\grub.efi`, true},
		{"brace alone", `\efi\{x}\grub.efi`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateEFIPath(tt.in)
			if (err == nil) != tt.ok {
				t.Errorf("ValidateEFIPath(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"web-1", true},
		{"ns3001234.ip-1-2-3.eu", true},
		{"A_b", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-web", false},
		{".web", false},
		{"web 1", false},
		{"web/1", false},
		{"web\n1", false},
	}
	for _, tt := range tests {
		if err := ValidateName(tt.in); (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

func TestMachineValidate(t *testing.T) {
	m := Machine{Name: "web-1", MACs: []string{"52-54-00-AB-CD-EF", "52:54:00:00:00:01"}, IPv4: "198.51.100.10",
		BootMode: BootModeLocal, EFIBootloaderPath: `\efi\debian\grubx64.efi`}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	if diff := cmp.Diff([]string{"52:54:00:ab:cd:ef", "52:54:00:00:00:01"}, m.MACs); diff != "" {
		t.Errorf("MACs not normalised (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		edit func(m *Machine)
		want string // substring of the error
	}{
		{"bad name", func(m *Machine) { m.Name = "-x" }, "invalid machine name"},
		{"bad MAC", func(m *Machine) { m.MACs = []string{"nope"} }, `invalid MAC address "nope"`},
		{"duplicate MAC", func(m *Machine) { m.MACs = []string{"52:54:00:00:00:01", "52-54-00-00-00-01"} }, "MAC address 52:54:00:00:00:01 listed twice"},
		{"IPv6", func(m *Machine) { m.IPv4 = "2001:db8::1" }, `invalid IPv4 address "2001:db8::1"`},
		{"bad IPv4", func(m *Machine) { m.IPv4 = "198.51.100" }, `invalid IPv4 address "198.51.100"`},
		{"bad efi path", func(m *Machine) { m.EFIBootloaderPath = "grub.efi" }, "invalid efiBootloaderPath"},
		{"bad boot mode", func(m *Machine) { m.BootMode = "disk" }, `invalid boot mode "disk"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}}
			tt.edit(&m)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
