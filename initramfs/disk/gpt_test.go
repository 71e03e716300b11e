package disk

import (
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const mib = 1 << 20

// sgdisk runs sgdisk against path, through a loop device of the right
// logical sector size when ss is not 512 (sgdisk assumes 512 for files).
func sgdisk(t *testing.T, path string, ss int, args ...string) string {
	t.Helper()
	needTools(t, "sgdisk")
	if ss == 512 {
		return run(t, "sgdisk", append(args, path)...)
	}
	var out string
	withLoop(t, path, ss, func(dev string) { out = run(t, "sgdisk", append(args, dev)...) })
	return out
}

// makeGPT creates a GPT disk image of size bytes with one partition of
// partMiB MiB starting at 1 MiB.
func makeGPT(t *testing.T, ss int, size int64, partMiB int) string {
	t.Helper()
	p := imageFile(t, size)
	first := mib / ss
	sgdisk(t, p, ss, "-o", "-n", "1:"+strconv.Itoa(first)+":+"+strconv.Itoa(partMiB)+"M", "-t", "1:8300", "-c", "1:root")
	return p
}

func sgdiskClean(t *testing.T, path string, ss int) {
	t.Helper()
	if out := sgdisk(t, path, ss, "-v"); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v %s:\n%s", path, out)
	}
}

// partitionLines returns sgdisk -p's partition rows.
func partitionLines(t *testing.T, path string, ss int) []string {
	t.Helper()
	out := sgdisk(t, path, ss, "-p")
	var rows []string
	row := regexp.MustCompile(`^\s+\d+\s+\d+\s+\d+`)
	for _, l := range strings.Split(out, "\n") {
		if row.MatchString(l) {
			rows = append(rows, strings.Join(strings.Fields(l), " "))
		}
	}
	return rows
}

func checkBackupAtEnd(t *testing.T, path string, ss int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	last := fi.Size()/int64(ss) - 1
	b := readSector(t, path, ss, last)
	if !hasGPTHeaderAt(b) {
		t.Fatalf("no GPT header at last LBA %d", last)
	}
	if my := binary.LittleEndian.Uint64(b[24:]); my != uint64(last) {
		t.Errorf("backup header MyLBA = %d, want %d", my, last)
	}
	primary := readSector(t, path, ss, 1)
	if alt := binary.LittleEndian.Uint64(primary[32:]); alt != uint64(last) {
		t.Errorf("primary header AlternateLBA = %d, want %d", alt, last)
	}
}

func TestFixGPT(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ss         int
		size, grow int64
	}{
		{"512 grown 20M to 64M", 512, 20 * mib, 64 * mib},
		{"512 not grown", 512, 20 * mib, 20 * mib},
		{"4096 grown 20M to 64M", 4096, 20 * mib, 64 * mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := makeGPT(t, tc.ss, tc.size, 8)
			before := partitionLines(t, p, tc.ss)
			grow(t, p, tc.grow)
			ok, err := FixGPT(openRW(t, p), tc.ss)
			if err != nil || !ok {
				t.Fatalf("FixGPT = %v, %v, want true, nil", ok, err)
			}
			sgdiskClean(t, p, tc.ss)
			checkBackupAtEnd(t, p, tc.ss)
			if after := partitionLines(t, p, tc.ss); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("partitions after FixGPT = %q, want %q", after, before)
			}
			if tc.grow > tc.size {
				if b := readSector(t, p, tc.ss, tc.size/int64(tc.ss)-1); hasGPTHeaderAt(b) {
					t.Errorf("stale backup header left at the old end of the disk")
				}
			}
		})
	}
}

func TestFixGPTNoGPT(t *testing.T) {
	needTools(t, "sfdisk")
	for _, tc := range []struct {
		name  string
		setup func(path string)
	}{
		{"blank", func(string) {}},
		{"mbr", func(p string) { runStdin(t, "label: dos\n,8M,83\n", "sfdisk", "-q", p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := imageFile(t, 16*mib)
			tc.setup(p)
			h := fileHash(t, p)
			ok, err := FixGPT(openRW(t, p), 512)
			if ok || err != nil {
				t.Errorf("FixGPT = %v, %v, want false, nil", ok, err)
			}
			if fileHash(t, p) != h {
				t.Errorf("FixGPT changed a disk without GPT")
			}
		})
	}
}

func TestFixGPTRefusesBadTables(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string)
		want    string
	}{
		{"header CRC", func(t *testing.T, p string) { poke(t, p, 512+40, 0x55) }, "header CRC"},
		{"entries CRC", func(t *testing.T, p string) { poke(t, p, 2*512+100, 0x55) }, "entries CRC"},
		{"disk smaller than partitions", func(t *testing.T, p string) { grow(t, p, 6*mib) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := makeGPT(t, 512, 20*mib, 8)
			tc.corrupt(t, p)
			h := fileHash(t, p)
			if _, err := FixGPT(openRW(t, p), 512); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FixGPT = %v, want an error containing %q", err, tc.want)
			}
			if fileHash(t, p) != h {
				t.Errorf("FixGPT changed a table it refused")
			}
			if _, err := AddPartition(openRW(t, p), 512, mib, "config-2"); err == nil {
				t.Errorf("AddPartition on a bad table = nil error")
			}
			if fileHash(t, p) != h {
				t.Errorf("AddPartition changed a table it refused")
			}
		})
	}
}

func poke(t *testing.T, path string, off int64, v byte) {
	t.Helper()
	f := openRW(t, path)
	if _, err := f.WriteAt([]byte{v}, off); err != nil {
		t.Fatal(err)
	}
}

func TestFixGPTLoopDevice(t *testing.T) {
	needTools(t, "sgdisk")
	p := makeGPT(t, 512, 20*mib, 8)
	grow(t, p, 48*mib)
	withLoop(t, p, 512, func(dev string) {
		ok, err := FixGPT(openRW(t, dev), 512)
		if err != nil || !ok {
			t.Fatalf("FixGPT(%s) = %v, %v, want true, nil", dev, ok, err)
		}
		if out := run(t, "sgdisk", "-v", dev); !strings.Contains(out, "No problems found") {
			t.Errorf("sgdisk -v %s:\n%s", dev, out)
		}
	})
	checkBackupAtEnd(t, p, 512)
}

// TestLoopDevice4096 runs the installer's sequence on a partition-scanning
// loop device with 4096-byte sectors: the size comes from BLKGETSIZE64 and
// the kernel must see the new partition after BLKRRPART.
func TestLoopDevice4096(t *testing.T) {
	p := makeGPT(t, 4096, 20*mib, 8)
	grow(t, p, 48*mib)
	withLoop(t, p, 4096, func(dev string) {
		base := "/sys/class/block/" + strings.TrimPrefix(dev, "/dev/")
		kernelScans := exists(base + "p1") // some kernels (e.g. minimal VM kernels) have no partition parsers
		f := openRW(t, dev)
		if ok, err := FixGPT(f, 4096); err != nil || !ok {
			t.Fatalf("FixGPT(%s) = %v, %v, want true, nil", dev, ok, err)
		}
		part, err := AddPartition(f, 4096, 600*1024, "config-2")
		if err != nil {
			t.Fatalf("AddPartition(%s) = %v", dev, err)
		}
		if out := run(t, "sgdisk", "-v", dev); !strings.Contains(out, "No problems found") {
			t.Errorf("sgdisk -v %s:\n%s", dev, out)
		}
		if !kernelScans {
			t.Logf("this kernel does not scan partitions on %s: not checking that it sees partition 2", dev)
			return
		}
		sys := base + "p2/start"
		b, err := os.ReadFile(sys)
		if err != nil {
			t.Fatalf("kernel did not pick up partition 2 after AddPartition: %v", err)
		}
		if got, want := strings.TrimSpace(string(b)), strconv.FormatInt(part.Start/512, 10); got != want {
			t.Errorf("%s = %s, want %s (512-byte units)", sys, got, want)
		}
	}, "-P")
	sgdiskClean(t, p, 4096)
	checkBackupAtEnd(t, p, 4096)
}
