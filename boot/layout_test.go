package boot

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func lv(name string) *LayoutExtras { return &LayoutExtras{LV: &LVExtra{Name: name}} }

func entry(mp, fs string, level int, size int64) LayoutEntry {
	return LayoutEntry{MountPoint: mp, FileSystem: fs, RaidLevel: RaidLevel(level), Size: size}
}

func TestPartitioningValidate(t *testing.T) {
	esp := entry("/boot/efi", "vfat", 1, 511)
	tests := []struct {
		name    string
		p       Partitioning
		wantErr string // exact message; "" means valid
	}{
		{"empty layout means default", Partitioning{}, ""},
		{"default layout", Partitioning{Layout: DefaultLayout(true)}, ""},
		{"raid0 raid5 raid10 and lvm", Partitioning{Disks: 4, Layout: []LayoutEntry{
			esp, entry("/boot", "ext4", 1, 1024), entry("/", "xfs", 5, 10240), entry("/srv", "btrfs", 0, 4096),
			{MountPoint: "/var", FileSystem: "ext4", RaidLevel: RaidLevel(10), Size: 2048, Extras: lv("var")},
			{MountPoint: "/home", FileSystem: "xfs", RaidLevel: RaidLevel(10), Size: 0, Extras: lv("home")},
			{MountPoint: "swap", FileSystem: "swap", RaidLevel: RaidLevel(10), Size: 512, Extras: lv("swap")},
		}}, ""},
		{"raidLevel omitted means 1", Partitioning{Disks: 2, Layout: []LayoutEntry{{MountPoint: "/", FileSystem: "EXT4"}}}, ""},
		{"two swap areas", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, 0), entry("swap", "swap", 1, 512), entry("swap", "swap", 1, 512)}}, ""},
		{"one disk raid1 is no raid", Partitioning{Disks: 1, Layout: []LayoutEntry{entry("/", "ext4", 1, 0)}}, ""},
		{"one disk raid0 is no raid", Partitioning{Disks: 1, Layout: []LayoutEntry{entry("/", "ext4", 0, 0)}}, ""},

		{"two rest entries", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, 0), entry("/home", "xfs", 1, 0)}},
			"Only one layout entry may have size 0 (the rest of the disks): /, /home all do"},
		{"rest partition and rest lv", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, 0),
			{MountPoint: "/home", FileSystem: "xfs", Size: 0, Extras: lv("home")}}},
			"Only one layout entry may have size 0 (the rest of the disks): /, /home all do"},
		{"raid5 on two disks", Partitioning{Disks: 2, Layout: []LayoutEntry{entry("/", "ext4", 5, 0)}},
			"raidLevel 5 for mountPoint / needs at least 3 disks, the partitioning uses 2"},
		{"raid10 on three disks", Partitioning{Disks: 3, Layout: []LayoutEntry{entry("/", "ext4", 10, 0)}},
			"raidLevel 10 for mountPoint / needs at least 4 disks, the partitioning uses 3"},
		{"raid6 on one disk", Partitioning{Disks: 1, Layout: []LayoutEntry{entry("/", "ext4", 6, 0)}},
			"raidLevel 6 for mountPoint / needs at least 4 disks, the partitioning uses 1"},
		{"raid7", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 7, 0)}},
			"raidLevel 7 is not supported for mountPoint /: expected 0, 1, 5, 6 or 10"},
		{"unknown fs", Partitioning{Layout: []LayoutEntry{entry("/", "reiserfs", 1, 0)}},
			`Unknown fileSystem "reiserfs" for mountPoint /: expected one of ext4, xfs, btrfs, vfat, swap`},
		{"zfs", Partitioning{Layout: []LayoutEntry{entry("/", "zfs", 1, 0)}},
			"fileSystem zfs (mountPoint /) is not supported by this byoi server: expected one of ext4, xfs, btrfs, vfat, swap"},
		{"zpool", Partitioning{Layout: []LayoutEntry{{MountPoint: "/", FileSystem: "ext4", Extras: &LayoutExtras{ZP: &ZPExtra{Name: "z"}}}}},
			"ZFS (extras.zp for mountPoint /) is not supported by this byoi server"},
		{"no fs", Partitioning{Layout: []LayoutEntry{{MountPoint: "/"}}}, "Missing parameter: fileSystem for mountPoint /"},
		{"no mount point", Partitioning{Layout: []LayoutEntry{{FileSystem: "ext4"}}}, "Missing parameter: mountPoint in a layout entry"},
		{"no root", Partitioning{Layout: []LayoutEntry{esp, entry("/home", "ext4", 1, 0)}}, "The layout has no / (root) file system"},
		{"mount point twice", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, 100), entry("/", "xfs", 1, 0)}},
			"mountPoint / is given twice in the layout"},
		{"relative mount point", Partitioning{Layout: []LayoutEntry{entry("home", "ext4", 1, 0)}},
			`Invalid mountPoint "home": an absolute path such as /home, or swap, is expected`},
		{"unclean mount point", Partitioning{Layout: []LayoutEntry{entry("/a/../b", "ext4", 1, 0)}},
			`Invalid mountPoint "/a/../b": an absolute path such as /home, or swap, is expected`},
		{"trailing slash", Partitioning{Layout: []LayoutEntry{entry("/home/", "ext4", 1, 0)}},
			`Invalid mountPoint "/home/": an absolute path such as /home, or swap, is expected`},
		{"space in mount point", Partitioning{Layout: []LayoutEntry{entry("/my data", "ext4", 1, 0)}},
			`Invalid mountPoint "/my data": spaces, control characters, '\' and '#' are not allowed`},
		{"proc", Partitioning{Layout: []LayoutEntry{entry("/proc/x", "ext4", 1, 0)}},
			"Invalid mountPoint /proc/x: /proc is a kernel file system of the running system"},
		{"swap with ext4", Partitioning{Layout: []LayoutEntry{entry("swap", "ext4", 1, 0)}},
			"mountPoint swap with fileSystem ext4: swap areas have mountPoint swap and fileSystem swap"},
		{"vfat root", Partitioning{Layout: []LayoutEntry{entry("/", "vfat", 1, 0)}},
			"mountPoint / with fileSystem vfat: vfat is only for /boot/efi, and /boot/efi must be vfat"},
		{"ext4 esp", Partitioning{Layout: []LayoutEntry{entry("/boot/efi", "ext4", 1, 0)}},
			"mountPoint /boot/efi with fileSystem ext4: vfat is only for /boot/efi, and /boot/efi must be vfat"},
		{"esp raid0", Partitioning{Layout: []LayoutEntry{entry("/boot/efi", "vfat", 0, 511), entry("/", "ext4", 1, 0)}},
			"mountPoint /boot/efi must use raidLevel 1: the firmware reads each disk's copy as a plain FAT file system"},
		{"esp on lv", Partitioning{Layout: []LayoutEntry{{MountPoint: "/boot/efi", FileSystem: "vfat", Size: 511, Extras: lv("esp")}, entry("/", "ext4", 1, 0)}},
			"mountPoint /boot/efi cannot be a logical volume: the firmware and GRUB read it as a plain partition"},
		{"small xfs", Partitioning{Layout: []LayoutEntry{entry("/", "xfs", 1, 200)}},
			"size 200 MiB for mountPoint / is too small: xfs needs at least 300 MiB"},
		{"small esp", Partitioning{Layout: []LayoutEntry{entry("/boot/efi", "vfat", 1, 20), entry("/", "ext4", 1, 0)}},
			"size 20 MiB for mountPoint /boot/efi is too small: vfat needs at least 64 MiB"},
		{"negative size", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, -1)}},
			"Invalid size -1 MiB for mountPoint /: expected 0 (the rest) or a positive number of MiB"},
		{"bad lv name", Partitioning{Layout: []LayoutEntry{{MountPoint: "/", FileSystem: "ext4", Extras: lv("-root")}}},
			`Invalid logical volume name "-root" for mountPoint /: use 1-64 letters, digits, '_', '+', '.' or '-'`},
		{"lv twice", Partitioning{Layout: []LayoutEntry{{MountPoint: "/", FileSystem: "ext4", Size: 100, Extras: lv("a")},
			{MountPoint: "/home", FileSystem: "ext4", Extras: lv("a")}}}, `Logical volume name "a" is given twice in the layout`},
		{"lvs on two raid levels", Partitioning{Layout: []LayoutEntry{
			{MountPoint: "/", FileSystem: "ext4", RaidLevel: RaidLevel(1), Size: 100, Extras: lv("root")},
			{MountPoint: "/home", FileSystem: "ext4", RaidLevel: RaidLevel(0), Extras: lv("home")}}},
			"Every logical volume lives in one volume group on one RAID device: raidLevel must be the same for all entries with extras.lv (1 and 0 given)"},
		{"negative disks", Partitioning{Disks: -1}, "Invalid partitioning disks -1: expected 0 (all the disks of the group) or more"},
		{"scheme name with newline", Partitioning{SchemeName: "a\nb"}, `Invalid partitioning schemeName "a\nb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			got := ""
			if err != nil {
				got = err.Error()
				if !IsValidation(err) {
					t.Errorf("IsValidation(%v) = false, want true", err)
				}
			}
			if got != tt.wantErr {
				t.Errorf("Validate() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestPartitioningCheckFor(t *testing.T) {
	tests := []struct {
		name    string
		p       Partitioning
		uefi    bool
		disks   int
		wantErr string
	}{
		{"default uefi two disks", Partitioning{}, true, 2, ""},
		{"default legacy one disk", Partitioning{}, false, 1, ""},
		{"no esp on uefi", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, 0)}}, true, 1,
			"The layout has no /boot/efi (vfat) entry, which this UEFI machine needs to boot (e.g. 511 MiB, raidLevel 1)"},
		{"no esp on legacy", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, 0)}}, false, 1, ""},
		{"raid5 on the two disks found", Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 5, 0)}}, false, 2,
			"raidLevel 5 for mountPoint / needs at least 3 disks, the partitioning uses 2"},
		{"no disk", Partitioning{}, false, 0, "No disk to install on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.CheckFor(tt.uefi, tt.disks)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("CheckFor(%v, %d) = %q, want %q", tt.uefi, tt.disks, got, tt.wantErr)
			}
		})
	}
}

func TestDefaultLayout(t *testing.T) {
	for _, uefi := range []bool{true, false} {
		var got []string
		for _, e := range DefaultLayout(uefi) {
			got = append(got, e.String())
		}
		want := []string{"/ ext4 RAID1 rest"}
		if uefi {
			want = append([]string{"/boot/efi vfat RAID1 511 MiB"}, want...)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DefaultLayout(%v) (-want +got):\n%s", uefi, diff)
		}
	}
}

func TestStepsFor(t *testing.T) {
	if diff := cmp.Diff(Steps(), StepsFor(OSBYOI)); diff != "" {
		t.Errorf("StepsFor(byoi_64) (-want +got):\n%s", diff)
	}
	var ids []string
	for _, s := range NewStepsFor(OSBYOLinux) {
		if s.Comment == "" || s.Status != StepTodo {
			t.Errorf("NewStepsFor(byolinux_64) step %s = %+v, want a comment and todo", s.ID, s)
		}
		ids = append(ids, string(s.ID))
	}
	want := "inspect partition copy verify configure bootloader configdrive bootsetup reboot"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("NewStepsFor(byolinux_64) = %s, want %s", got, want)
	}
}

// TestCheckMachine: at submission, a layout without /boot/efi is refused
// for a machine whose last network boot was UEFI, and only then.
func TestCheckMachine(t *testing.T) {
	noESP := &Partitioning{Layout: []LayoutEntry{entry("/", "ext4", 1, 0)}}
	withESP := &Partitioning{Layout: []LayoutEntry{entry("/boot/efi", "vfat", 1, 511), entry("/", "ext4", 1, 0)}}
	efi := Machine{LastClient: "efi/x86_64 uuid 8c5f7a1e-0000-4000-8000-000000000001"}
	bios := Machine{LastClient: "pcbios/i386"}
	const msg = "The layout has no /boot/efi (vfat) entry, which this UEFI machine needs to boot (e.g. 511 MiB, raidLevel 1)"
	tests := []struct {
		name    string
		spec    InstallSpec
		m       Machine
		wantErr string
	}{
		{"uefi without esp", InstallSpec{OperatingSystem: OSBYOLinux, Partitioning: noESP}, efi, msg},
		{"uefi with esp", InstallSpec{OperatingSystem: OSBYOLinux, Partitioning: withESP}, efi, ""},
		{"uefi default layout", InstallSpec{OperatingSystem: OSBYOLinux}, efi, ""},
		{"uefi disks only", InstallSpec{OperatingSystem: OSBYOLinux, Partitioning: &Partitioning{Disks: 1}}, efi, ""},
		{"bios without esp", InstallSpec{OperatingSystem: OSBYOLinux, Partitioning: noESP}, bios, ""},
		{"never booted", InstallSpec{OperatingSystem: OSBYOLinux, Partitioning: noESP}, Machine{}, ""},
		{"byoi_64", InstallSpec{OperatingSystem: OSBYOI}, efi, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.CheckMachine(tt.m)
			got := ""
			if err != nil {
				got = err.Error()
				if !IsValidation(err) {
					t.Errorf("IsValidation(%v) = false, want true", err)
				}
			}
			if got != tt.wantErr {
				t.Errorf("CheckMachine(%s) = %q, want %q", tt.m.LastClient, got, tt.wantErr)
			}
		})
	}
}

func TestLastFirmware(t *testing.T) {
	for client, want := range map[string]Firmware{
		"efi/x86_64 uuid 8c5f7a1e-0000-4000-8000-000000000001": FirmwareEFI,
		"efi/arm64":       FirmwareEFI,
		"pcbios/i386":     FirmwareBIOS,
		"unknown/unknown": FirmwareUnknown,
		"":                FirmwareUnknown,
		"efi":             FirmwareUnknown,
		"efix/x86_64":     FirmwareUnknown,
	} {
		if got := (Machine{LastClient: client}).LastFirmware(); got != want {
			t.Errorf("LastFirmware(%q) = %q, want %q", client, got, want)
		}
	}
}
