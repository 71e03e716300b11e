package imagefs

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/byoi/byoi/initramfs/internal/testfs"
)

const mib = 1 << 20

// fsFile makes a file system of type fs in a file of size bytes.
func fsFile(t *testing.T, fs string, size int64, args ...string) string {
	t.Helper()
	p := filepath.Join(testfs.TempDir(t), fs+".img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	switch fs {
	case "swap":
		testfs.Run(t, testfs.NeedTool(t, "mkswap"), p)
	case "vfat":
		testfs.Run(t, testfs.NeedTool(t, "mkfs.vfat"), append(args, p)...)
	default:
		testfs.Mkfs(t, fs, p, args...)
	}
	return p
}

// disk builds a disk image of size bytes partitioned by sgdisk (gpt) or
// sfdisk (mbr) with the given partitions (start and size in MiB), each
// filled with the content of a file ("" leaves it empty).
func disk(t *testing.T, table string, size int64, parts []struct {
	start, size int64
	content     string
}) string {
	t.Helper()
	p := filepath.Join(testfs.TempDir(t), "disk.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	if table == "gpt" {
		args := []string{"-o"}
		for i, pt := range parts {
			args = append(args, "-n", strings.Join([]string{itoa(i + 1), itoa64(pt.start * 2048), itoa64((pt.start+pt.size)*2048 - 1)}, ":"))
		}
		testfs.Run(t, testfs.NeedTool(t, "sgdisk"), append(args, p)...)
	} else {
		var script strings.Builder
		script.WriteString("label: dos\n")
		for _, pt := range parts {
			script.WriteString("start=" + itoa64(pt.start*2048) + ", size=" + itoa64(pt.size*2048) + ", type=83\n")
		}
		cmd := testfs.NeedTool(t, "sfdisk")
		c := execCommand(cmd, "--quiet", p)
		c.Stdin = strings.NewReader(script.String())
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v\n%s", err, out)
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, pt := range parts {
		if pt.content == "" {
			continue
		}
		b, err := os.ReadFile(pt.content)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(b); off += 64 << 10 { // sparse: skip zeros
			c := b[off:min(len(b), off+64<<10)]
			if !bytes.Equal(c, make([]byte, len(c))) {
				if _, err := f.WriteAt(c, pt.start*mib+int64(off)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return p
}

func TestInspect(t *testing.T) {
	ext4 := fsFile(t, "ext4", 64*mib, "-L", "root")
	xfs := fsFile(t, "xfs", 300*mib, "-L", "xroot")
	btrfs := fsFile(t, "btrfs", 128*mib, "-L", "broot")
	vfat := fsFile(t, "vfat", 100*mib, "-F", "32")
	swap := fsFile(t, "swap", 16*mib)
	type pt = struct {
		start, size int64
		content     string
	}
	random := filepath.Join(testfs.TempDir(t), "random")
	os.WriteFile(random, bytes.Repeat([]byte("not a file system "), 1<<16), 0o644)
	corrupt := disk(t, "gpt", 100*mib, []pt{{1, 64, ext4}})
	if b, err := os.ReadFile(corrupt); err == nil {
		b[512+40] ^= 0xff // first usable LBA: under the header CRC
		os.WriteFile(corrupt, b, 0o644)
	}
	tests := []struct {
		name  string
		image string
		want  string // FS.String() and label, or the refusal
	}{
		{"bare ext4", ext4, "ext4 file system on the whole disk root"},
		{"bare xfs", xfs, "xfs file system on the whole disk xroot"},
		{"bare btrfs", btrfs, "btrfs file system on the whole disk broot"},
		{"gpt ext4", disk(t, "gpt", 100*mib, []pt{{1, 64, ext4}}), "ext4 in partition 1 of a GPT root"},
		{"mbr xfs", disk(t, "mbr", 310*mib, []pt{{1, 300, xfs}}), "xfs in partition 1 of a MBR xroot"},
		{"gpt btrfs in partition 3", disk(t, "gpt", 200*mib, []pt{{1, 130, btrfs}}), "btrfs in partition 1 of a GPT broot"},
		{"gpt esp and root", disk(t, "gpt", 200*mib, []pt{{1, 100, vfat}, {101, 64, ext4}}),
			"image provided has 2 partitions (1: 100 MiB, a FAT file system; 2: 64 MiB, ext4): a BYOLinux image must hold exactly one partition, or a bare file system, of type ext4, xfs or btrfs"},
		{"mbr two partitions", disk(t, "mbr", 100*mib, []pt{{1, 16, swap}, {17, 64, ext4}}),
			"image provided has 2 partitions (1: 16 MiB, a swap area; 2: 64 MiB, ext4): a BYOLinux image must hold exactly one partition, or a bare file system, of type ext4, xfs or btrfs"},
		{"empty gpt", disk(t, "gpt", 10*mib, nil),
			"image provided has an empty GPT partition table: a BYOLinux image must hold exactly one partition with an ext4, xfs or btrfs file system"},
		{"corrupt gpt", corrupt, "image provided has a corrupt GPT header (bad CRC)"},
		{"bare vfat", vfat, "the image holds a FAT file system: a BYOLinux image must hold ext4, xfs or btrfs"},
		{"swap partition", disk(t, "gpt", 20*mib, []pt{{1, 16, swap}}), "partition 1 of the image holds a swap area: a BYOLinux image must hold ext4, xfs or btrfs"},
		{"random bytes", random, "the image holds no file system byoi recognises: a BYOLinux image must hold ext4, xfs or btrfs"},
		{"truncated ext4", disk(t, "gpt", 40*mib, []pt{{1, 32, ext4}}),
			"partition 1 of the image holds a ext4 file system of 67108864 bytes in 33554432 bytes: the image is truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(tt.image)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			fs, err := Inspect(f, st.Size())
			got := ""
			if err != nil {
				got = err.Error()
				if !IsRefused(err) {
					t.Errorf("Inspect() = %v, want a *RefusedError", err)
				}
			} else {
				got = fs.String() + " " + fs.Label
				if fs.UUID == "" || fs.Offset+fs.Size > st.Size() {
					t.Errorf("Inspect() = %+v: no UUID, or beyond the image", fs)
				}
			}
			if got != tt.want {
				t.Errorf("Inspect(%s) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestNoSubvolumes(t *testing.T) {
	testfs.NeedRoot(t)
	btrfsTool := testfs.NeedTool(t, "btrfs")
	for _, withSubvol := range []bool{false, true} {
		dev := testfs.Loop(t, 128*mib)
		testfs.Mkfs(t, "btrfs", dev)
		dir := testfs.Mount(t, dev, "btrfs", "")
		os.MkdirAll(filepath.Join(dir, "plain/dir"), 0o755)
		if withSubvol {
			testfs.Run(t, btrfsTool, "subvolume", "create", filepath.Join(dir, "@home"))
		}
		testfs.Run(t, testfs.NeedTool(t, "mount"), "-o", "remount,ro", dir)
		err := NoSubvolumes(dir)
		if withSubvol && (err == nil || !IsRefused(err) || !strings.Contains(err.Error(), "with 1 subvolume(s)")) {
			t.Errorf("NoSubvolumes(btrfs with @home) = %v, want a refusal naming 1 subvolume", err)
		}
		if !withSubvol && err != nil {
			t.Errorf("NoSubvolumes(plain btrfs) = %v, want nil", err)
		}
	}
	if err := NoSubvolumes(t.TempDir()); err != nil {
		t.Errorf("NoSubvolumes(not btrfs) = %v, want nil", err)
	}
}

// FuzzInspect: any bytes give a file system inside the image or an error,
// never a panic or a range beyond the image.
func FuzzInspect(f *testing.F) {
	mbr := make([]byte, 4096)
	mbr[510], mbr[511] = 0x55, 0xaa
	mbr[446+4], mbr[446+8], mbr[446+12] = 0x83, 1, 4
	f.Add(mbr)
	gpt := append([]byte(nil), mbr...)
	gpt[446+4] = 0xee
	copy(gpt[512:], "EFI PART")
	f.Add(gpt)
	ext := make([]byte, 4096)
	ext[1080], ext[1081] = 0x53, 0xef
	f.Add(ext)
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := Inspect(bytes.NewReader(b), int64(len(b)))
		if err == nil && (fs.Offset < 0 || fs.Size < 0 || fs.Offset+fs.Size > int64(len(b))) {
			t.Errorf("Inspect(%d bytes) = %+v: outside the image", len(b), fs)
		}
	})
}

func itoa(i int) string     { return itoa64(int64(i)) }
func itoa64(i int64) string { return strconv.FormatInt(i, 10) }

var execCommand = exec.Command
