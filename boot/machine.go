package boot

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// Sentinel errors shared by the store and its consumers.
var (
	// ErrNotFound: no such machine, task, lease or credential.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change conflicts with existing state (a MAC already
	// owned by another machine, a second active task, a name taken).
	ErrConflict = errors.New("conflict")
)

// BootMode is what an installed machine boots when it PXE-boots again.
type BootMode string

// Boot modes.
const (
	// BootModeNone: nothing installed by byoi; the machine exits to its next
	// boot device.
	BootModeNone BootMode = ""
	// BootModeLocal: boot the local disk (UEFI: EFIBootloaderPath; BIOS: 0x80).
	BootModeLocal BootMode = "local"
	// BootModeRescue: boot the rescue system (an SSH server in RAM).
	BootModeRescue BootMode = "rescue"
)

// DiskHints select the installer's target disk. Empty fields do not
// constrain; all set fields must match. With no hints the installer takes
// the first non-removable disk in a stable order.
type DiskHints struct {
	Path    string `json:"path,omitempty"`    // e.g. /dev/sda or /dev/disk/by-path/…
	Serial  string `json:"serial,omitempty"`  // as in /sys/block/X/device/serial
	WWN     string `json:"wwn,omitempty"`     // as in /sys/block/X/device/wwid
	MinSize int64  `json:"minSize,omitempty"` // bytes
	MaxSize int64  `json:"maxSize,omitempty"` // bytes
}

// Machine is a registered (or discovered) bare-metal machine.
type Machine struct {
	// Name is the operator-chosen serviceName, the key of the machine.
	Name string `json:"serviceName"`
	// MACs are the machine's boot interfaces, lower-case colon form.
	MACs []string `json:"macs"`
	// IPv4 is an optional fixed address handed out by byoi's DHCP in full mode.
	IPv4 string `json:"ipv4,omitempty"`
	// Disk selects the installer's target disk.
	Disk DiskHints `json:"disk,omitzero"`
	// DiskGroups maps an OVH diskGroupId to a disk selection rule.
	DiskGroups map[int]DiskHints `json:"diskGroups,omitempty"`
	// BootMode says what the machine boots when no task is pending.
	BootMode BootMode `json:"bootMode"`
	// EFIBootloaderPath is chainloaded from disk 0 on UEFI in local mode.
	EFIBootloaderPath string `json:"efiBootloaderPath,omitempty"`
	// Discovered is true for machines recorded from an unknown MAC that
	// PXE-booted; an operator adopts them by giving them a name.
	Discovered bool `json:"discovered,omitempty"`
	// LastSeen is the last time the machine asked what to boot.
	LastSeen time.Time `json:"lastSeen,omitzero"`
	// LastClient is what the machine's last boot request looked like.
	LastClient string    `json:"lastClient,omitempty"`
	Created    time.Time `json:"created,omitzero"`
	// ServerID is the number OVH's API shows as serverId; 0: derived from
	// the name by the API.
	ServerID int64 `json:"serverId,omitempty"`
	// Datacenter, Rack, Region and AvailabilityZone locate the machine as
	// OVH's API shows it; empty: the server-wide values.
	Datacenter       string `json:"datacenter,omitempty"`
	Rack             string `json:"rack,omitempty"`
	Region           string `json:"region,omitempty"`
	AvailabilityZone string `json:"availabilityZone,omitempty"`
	// Power is how byoi reaches the machine's BMC (nil: it cannot).
	Power *PowerSettings `json:"power,omitempty"`
	// PowerState is the power state byoi last saw ("on" or "off"), at
	// PowerSeen.
	PowerState string    `json:"powerState,omitempty"`
	PowerSeen  time.Time `json:"powerSeen,omitzero"`
	// LastPower is byoi's last power action on the machine.
	LastPower *PowerNote `json:"lastPower,omitempty"`
	// RescueSSHKey is the public key the rescue system accepts (OVH's
	// rescueSshKey); empty: the sshKey of the machine's latest install.
	RescueSSHKey string `json:"rescueSshKey,omitempty"`
	// Rescue is what the rescue system reported while BootMode is rescue.
	Rescue *RescueInfo `json:"rescue,omitempty"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// ValidateName checks a serviceName: 1–63 characters of letters, digits,
// '.', '_' and '-', starting with a letter or digit.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid machine name %s: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", Quote(name))
	}
	return nil
}

// NormalizeMAC parses a MAC address in any form net.ParseMAC accepts (and
// iPXE's hyphenated form) and returns it in lower-case colon form.
func NormalizeMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.ReplaceAll(strings.TrimSpace(s), "-", ":"))
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("invalid MAC address %s", Quote(s))
	}
	return hw.String(), nil
}

// LastFirmware is the firmware of the machine's last network boot, read
// from LastClient ("efi/x86_64 …", "pcbios/i386"); FirmwareUnknown when it
// never booted or iPXE did not say.
func (m Machine) LastFirmware() Firmware {
	fw, _, ok := strings.Cut(m.LastClient, "/")
	if f := Firmware(fw); ok && (f == FirmwareEFI || f == FirmwareBIOS) {
		return f
	}
	return FirmwareUnknown
}

// Validate checks a machine before it is stored, normalising its MACs.
func (m *Machine) Validate() error {
	if err := ValidateName(m.Name); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, s := range m.MACs {
		mac, err := NormalizeMAC(s)
		if err != nil {
			return err
		}
		if seen[mac] {
			return fmt.Errorf("MAC address %s listed twice", mac)
		}
		seen[mac] = true
		m.MACs[i] = mac
	}
	if m.IPv4 != "" {
		ip := net.ParseIP(m.IPv4).To4()
		if ip == nil {
			return fmt.Errorf("invalid IPv4 address %s", Quote(m.IPv4))
		}
		m.IPv4 = ip.String()
	}
	if m.EFIBootloaderPath != "" {
		if err := ValidateEFIPath(m.EFIBootloaderPath); err != nil {
			return err
		}
	}
	switch m.BootMode {
	case BootModeNone, BootModeLocal, BootModeRescue:
	default:
		return fmt.Errorf("invalid boot mode %s: use %q, %q or %q", Quote(string(m.BootMode)), BootModeLocal, BootModeRescue, "")
	}
	if m.RescueSSHKey != "" && (len(m.RescueSSHKey) > 16<<10 || strings.ContainsAny(m.RescueSSHKey, "\r\n\x00")) {
		return fmt.Errorf("invalid rescueSshKey: one public key line of at most 16 KiB is expected")
	}
	if m.ServerID < 0 || m.ServerID > MaxServerID {
		return fmt.Errorf("invalid serverId %d: from 1 to %d, or 0 to derive it", m.ServerID, MaxServerID)
	}
	for _, f := range []struct{ name, v string }{
		{"datacenter", m.Datacenter}, {"rack", m.Rack}, {"region", m.Region}, {"availabilityZone", m.AvailabilityZone},
	} {
		if err := ValidateLocation(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// MaxServerID is the largest serverId: JavaScript clients read JSON
// numbers as doubles, exact up to 2^53.
const MaxServerID = 1<<53 - 1

// ValidateLocation checks a datacenter, rack, region or availability zone
// name: at most 64 printable ASCII characters.
func ValidateLocation(field, v string) error {
	if len(v) > 64 {
		return fmt.Errorf("invalid %s %s: at most 64 characters", field, Quote(v))
	}
	for _, r := range v {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("invalid %s %s: only printable ASCII is allowed", field, Quote(v))
		}
	}
	return nil
}

// ValidateEFIPath checks an efiBootloaderPath: an absolute path on the EFI
// system partition (backslashes or slashes), printable ASCII, at most 255
// characters, no "." or ".." components, and no "${" (iPXE would expand
// it). It is the one rule for every route that stores a path and for the
// iPXE renderer: anything it accepts renders (ipxe's FuzzEFIPathRule).
func ValidateEFIPath(p string) error {
	if len(p) == 0 || len(p) > 255 {
		return fmt.Errorf("invalid efiBootloaderPath %s: must be 1-255 characters", Quote(p))
	}
	if p[0] != '\\' && p[0] != '/' {
		return fmt.Errorf("invalid efiBootloaderPath %s: must start with \\ (e.g. \\efi\\debian\\grubx64.efi)", Quote(p))
	}
	for _, r := range p {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("invalid efiBootloaderPath %s: only printable ASCII is allowed", Quote(p))
		}
	}
	if strings.Contains(p, "${") {
		return fmt.Errorf("invalid efiBootloaderPath %s: \"${\" is not allowed (iPXE would expand it)", Quote(p))
	}
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '\\' || r == '/' }) {
		if part == "." || part == ".." {
			return fmt.Errorf("invalid efiBootloaderPath %s: no . or .. components", Quote(p))
		}
	}
	return nil
}
