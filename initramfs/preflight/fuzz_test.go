package preflight

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// compactImage makes a small GPT or MBR image whose FAT12 ESP starts right
// after the table (sector 40), so that a fuzz seed is a few KiB.
func compactImage(t testing.TB, table string) []byte {
	t.Helper()
	img := filepath.Join(t.TempDir(), "seed.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 1<<20); err != nil {
		t.Fatal(err)
	}
	if table == "gpt" {
		run(t, "sgdisk", "-o", "-a", "1", "-n", "1:40:1500", "-t", "1:ef00", "-n", "2:1501:1600", "-t", "2:ef02", img)
	} else {
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader("label: dos\nstart=40, size=1461, type=ef\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
	}
	run(t, "mkfs.fat", "-F", "12", "-s", "1", "-r", "16", "--offset", "40", img, fmt.Sprint(1461/2))
	at := img + "@@20480"
	run(t, "mmd", "-i", at, "::/EFI", "::/EFI/BOOT", "::/EFI/debian")
	src := filepath.Join(t.TempDir(), "x")
	os.WriteFile(src, []byte("x"), 0o644)
	run(t, "mcopy", "-i", at, src, "::/EFI/BOOT/BOOTX64.EFI")
	run(t, "mcopy", "-i", at, src, "::/EFI/debian/shimx64.efi")
	b := readImage(t, img)
	clear(b[len(b)-33*512:]) // the backup GPT: not read by the checks
	return bytes.TrimRight(b, "\x00")
}

// FuzzCheck runs every check on arbitrary bytes, as a file, as a partial
// stream head and with a given loader path: nothing may panic or hang, and
// every failure must be an *Error with a kind.
func FuzzCheck(f *testing.F) {
	if _, err := exec.LookPath("sgdisk"); err == nil {
		for _, table := range []string{"gpt", "mbr"} {
			seed := compactImage(f, table)
			// A seed must pass, or the fuzzer starts from nothing useful.
			if res, err := Check(Head{Data: seed, Complete: true}, Config{Firmware: UEFI}); err != nil || res.Loader == "" {
				f.Fatalf("Check(%s seed) = %+v, %v; want a loader", table, res, err)
			}
			f.Add(seed, `\efi\debian\shimx64.efi`)
		}
	} else if integration() {
		f.Fatal("sgdisk not installed")
	}
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		// As a file of known size, and as the head of a stream of unknown size.
		readers := []Head{{Data: data, Complete: true}, {Data: data}}
		for _, r := range readers {
			for _, c := range []Config{{Firmware: UEFI}, {Firmware: UEFI, EFIBootloaderPath: path}, {Firmware: BIOS}, {}} {
				if r.Complete {
					c.Size = int64(len(data))
				}
				res, err := Check(r, c)
				if err != nil {
					if KindOf(err) == 0 {
						t.Fatalf("Check(%+v) = %v, not an *Error", c, err)
					}
					continue
				}
				if c.Firmware == UEFI && res.Loader == "" {
					t.Fatalf("Check(%+v) succeeded on UEFI without a loader", c)
				}
			}
		}
	})
}

// FuzzReadTable checks the table parser alone, and that what it returns
// is consistent: partitions inside the image, not overlapping.
func FuzzReadTable(f *testing.F) {
	if _, err := exec.LookPath("sgdisk"); err == nil {
		f.Add(compactImage(f, "gpt"))
		f.Add(compactImage(f, "mbr"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := ReadTable(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		ps := slices.Clone(tab.Partitions)
		slices.SortFunc(ps, func(a, b Partition) int { return cmp.Compare(a.Start, b.Start) })
		for i, p := range ps {
			if p.Start <= 0 || p.Size <= 0 || p.Start+p.Size > int64(len(data)) {
				t.Fatalf("partition %d at %d+%d outside the %d-byte image", p.Number, p.Start, p.Size, len(data))
			}
			if i > 0 && ps[i-1].Start+ps[i-1].Size > p.Start {
				t.Fatalf("partitions %d and %d overlap", ps[i-1].Number, p.Number)
			}
		}
	})
}
