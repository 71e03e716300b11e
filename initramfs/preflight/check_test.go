package preflight

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	debianESP = []string{"/EFI/debian/shimx64.efi", "/EFI/debian/grubx64.efi", "/EFI/debian/mmx64.efi",
		"/EFI/debian/grub.cfg", "/EFI/BOOT/BOOTX64.EFI", "/EFI/BOOT/grubx64.efi"}
	cloudGPT = disk{table: "gpt", bootCode: true, parts: []part{
		{gptType: "ef02", mib: 3}, {gptType: "ef00", mib: 40, fat: 16, files: debianESP}, {gptType: "8304", mib: 8}}}
)

func gptESP(files ...string) disk {
	return disk{table: "gpt", parts: []part{{gptType: "ef00", mib: 34, fat: 32, files: files}, {gptType: "8300", mib: 4}}}
}

// TestCheck runs every rule on small images made by sgdisk/sfdisk,
// mkfs.fat and mtools.
func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		disk    disk
		cfg     Config
		want    Result // Table is not compared
		wantErr string // exact Error() text; "" = success
	}{
		{"UEFI given path found case-insensitively", cloudGPT, Config{Firmware: UEFI, EFIBootloaderPath: `\efi\DEBIAN\grubx64.EFI`},
			Result{ESP: 2, Loader: `\EFI\debian\grubx64.efi`, BIOSBootable: true,
				Loaders: []string{`\EFI\debian\shimx64.efi`, `\EFI\debian\grubx64.efi`, `\EFI\BOOT\BOOTX64.EFI`, `\EFI\BOOT\grubx64.efi`, `\EFI\debian\mmx64.efi`}}, ""},
		{"UEFI shim picked first", cloudGPT, Config{Firmware: UEFI},
			Result{ESP: 2, Loader: `\EFI\debian\shimx64.efi`, Picked: true, BIOSBootable: true,
				Loaders: []string{`\EFI\debian\shimx64.efi`, `\EFI\debian\grubx64.efi`, `\EFI\BOOT\BOOTX64.EFI`, `\EFI\BOOT\grubx64.efi`, `\EFI\debian\mmx64.efi`}}, ""},
		{"UEFI GRUB picked without shim", gptESP("/EFI/debian/grubx64.efi", "/EFI/BOOT/BOOTX64.EFI"), Config{Firmware: UEFI},
			Result{ESP: 1, Loader: `\EFI\debian\grubx64.efi`, Picked: true, Loaders: []string{`\EFI\debian\grubx64.efi`, `\EFI\BOOT\BOOTX64.EFI`}}, ""},
		{"UEFI systemd-boot picked", gptESP("/EFI/systemd/systemd-bootx64.efi", "/EFI/BOOT/BOOTX64.EFI", "/EFI/Linux/arch.efi"), Config{Firmware: UEFI},
			Result{ESP: 1, Loader: `\EFI\systemd\systemd-bootx64.efi`, Picked: true,
				Loaders: []string{`\EFI\systemd\systemd-bootx64.efi`, `\EFI\BOOT\BOOTX64.EFI`, `\EFI\Linux\arch.efi`}}, ""},
		{"UEFI Windows Boot Manager picked", gptESP("/EFI/Microsoft/Boot/bootmgfw.efi", "/EFI/Boot/bootx64.efi"), Config{Firmware: UEFI},
			Result{ESP: 1, Loader: `\EFI\Microsoft\Boot\bootmgfw.efi`, Picked: true, Loaders: []string{`\EFI\Microsoft\Boot\bootmgfw.efi`, `\EFI\Boot\bootx64.efi`}}, ""},
		{"UEFI removable path picked last", gptESP("/EFI/BOOT/BOOTX64.EFI", "/EFI/talos/other.efi"), Config{Firmware: UEFI},
			Result{ESP: 1, Loader: `\EFI\BOOT\BOOTX64.EFI`, Picked: true, Loaders: []string{`\EFI\BOOT\BOOTX64.EFI`, `\EFI\talos\other.efi`}}, ""},
		{"arm64 names", gptESP("/EFI/BOOT/BOOTAA64.EFI", "/EFI/BOOT/BOOTX64.EFI"), Config{Firmware: UEFI, Arch: "aa64"},
			Result{ESP: 1, Loader: `\EFI\BOOT\BOOTAA64.EFI`, Picked: true, Loaders: []string{`\EFI\BOOT\BOOTAA64.EFI`, `\EFI\BOOT\BOOTX64.EFI`}}, ""},
		{"UEFI given path missing", gptESP("/EFI/debian/shimx64.efi", "/EFI/BOOT/BOOTX64.EFI"), Config{Firmware: UEFI, EFIBootloaderPath: `\efi\debian\grubx64.efi`},
			Result{}, `\efi\debian\grubx64.efi not found on the image's EFI system partition; it has \EFI\debian\shimx64.efi, \EFI\BOOT\BOOTX64.EFI`},
		{"UEFI given path is a directory", gptESP("/EFI/BOOT/BOOTX64.EFI"), Config{Firmware: UEFI, EFIBootloaderPath: `\EFI\BOOT`},
			Result{}, `\EFI\BOOT not found on the image's EFI system partition; it has \EFI\BOOT\BOOTX64.EFI`},
		{"UEFI empty ESP", gptESP(), Config{Firmware: UEFI},
			Result{}, `no boot loader found on the image's EFI system partition (looked for shim, GRUB, systemd-boot and the removable path); it holds no .efi file under \EFI`},
		{"UEFI only unknown loaders", gptESP("/EFI/tools/shell.efi"), Config{Firmware: UEFI},
			Result{}, `no boot loader found on the image's EFI system partition (looked for shim, GRUB, systemd-boot and the removable path); it has \EFI\tools\shell.efi`},
		{"UEFI no ESP", disk{table: "gpt", parts: []part{{gptType: "8300", mib: 4}}}, Config{Firmware: UEFI},
			Result{}, "the image has no EFI system partition: a UEFI machine cannot boot it"},
		{"UEFI ESP not formatted", disk{table: "gpt", parts: []part{{gptType: "ef00", mib: 4}}}, Config{Firmware: UEFI},
			Result{}, "the image's EFI system partition (partition 1) cannot be read: not a FAT file system"},
		{"UEFI MBR ESP type 0xef", disk{table: "mbr", parts: []part{{mbrType: "ef", mib: 8, fat: 12, files: []string{"/EFI/BOOT/BOOTX64.EFI"}}}}, Config{Firmware: UEFI},
			Result{ESP: 1, Loader: `\EFI\BOOT\BOOTX64.EFI`, Picked: true, Loaders: []string{`\EFI\BOOT\BOOTX64.EFI`}}, ""},
		{"UEFI MBR FAT32 partition with EFI", disk{table: "mbr", bootCode: true, parts: []part{{mbrType: "83", mib: 2}, {mbrType: "c", mib: 34, fat: 32, files: []string{"/EFI/BOOT/BOOTX64.EFI"}}}}, Config{Firmware: UEFI},
			Result{ESP: 2, Loader: `\EFI\BOOT\BOOTX64.EFI`, Picked: true, Loaders: []string{`\EFI\BOOT\BOOTX64.EFI`}, BIOSBootable: true}, ""},
		{"UEFI MBR FAT partition without EFI", disk{table: "mbr", parts: []part{{mbrType: "c", mib: 16, fat: 16, files: []string{"/syslinux.cfg"}}}}, Config{Firmware: UEFI},
			Result{}, "the image has no EFI system partition: a UEFI machine cannot boot it"},
		{"BIOS GPT with BIOS boot partition", disk{table: "gpt", parts: []part{{gptType: "ef02", mib: 1}, {gptType: "8300", mib: 2}}}, Config{Firmware: BIOS},
			Result{BIOSBootable: true}, ""},
		{"BIOS GPT without boot code or BIOS boot partition", gptESP("/EFI/BOOT/BOOTX64.EFI"), Config{Firmware: BIOS},
			Result{}, "the image has no boot code in its MBR and no BIOS boot partition: a legacy BIOS machine cannot boot it"},
		{"BIOS MBR with boot code", disk{table: "mbr", bootCode: true, parts: []part{{mbrType: "83", mib: 2}}}, Config{Firmware: BIOS},
			Result{BIOSBootable: true}, ""},
		{"BIOS MBR without boot code", disk{table: "mbr", parts: []part{{mbrType: "83", mib: 2}}}, Config{Firmware: BIOS},
			Result{}, "the image has no boot code in its MBR and no BIOS boot partition: a legacy BIOS machine cannot boot it"},
		{"BIOS ignores the efi path", disk{table: "mbr", bootCode: true, parts: []part{{mbrType: "83", mib: 2}}}, Config{Firmware: BIOS, EFIBootloaderPath: `\x.efi`},
			Result{BIOSBootable: true}, ""},
		{"unknown firmware lists loaders, never fails on them", gptESP("/EFI/BOOT/BOOTX64.EFI"), Config{EFIBootloaderPath: `\nope.efi`},
			Result{ESP: 1, Loaders: []string{`\EFI\BOOT\BOOTX64.EFI`}}, ""},
		{"no partition table", disk{}, Config{Firmware: UEFI}, Result{}, "the image has no partition table (neither GPT nor MBR)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.disk.build(t)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			tc.cfg.Size = st.Size()
			got, err := Check(f, tc.cfg)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Check() error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check() = %v, want success", err)
			}
			got.Table = Table{}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Check() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestErrorKinds checks the typed side of failures: the kind, the path and
// the loaders a caller maps to its own words.
func TestErrorKinds(t *testing.T) {
	img := readImage(t, gptESP("/EFI/debian/shimx64.efi", "/EFI/BOOT/BOOTX64.EFI").build(t))
	_, err := Check(bytes.NewReader(img), Config{Firmware: UEFI, EFIBootloaderPath: `\efi\debian\grubx64.efi`})
	want := &Error{Kind: LoaderNotFound, Path: `\efi\debian\grubx64.efi`, Loaders: []string{`\EFI\debian\shimx64.efi`, `\EFI\BOOT\BOOTX64.EFI`}}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("Check() error mismatch (-want +got):\n%s", diff)
	}
	if KindOf(err) != LoaderNotFound {
		t.Errorf("KindOf(%v) = %v, want %v", err, KindOf(err), LoaderNotFound)
	}
}
