package filecopy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/byoi/byoi/initramfs/internal/testfs"
)

// Target file systems and the size each needs at least.
var targets = []struct {
	fs   string
	size int64
}{{"ext4", 256 << 20}, {"xfs", 320 << 20}, {"btrfs", 256 << 20}}

// TestCopyFidelity builds a tree with every kind of file and metadata on
// ext4, mounts it read-only (as the image is), copies it onto ext4, xfs and
// btrfs, and compares with rsync -aHAXS itemizing (nothing to change),
// getfattr and getfacl dumps, and a stat listing of every name.
func TestCopyFidelity(t *testing.T) {
	testfs.NeedRoot(t)
	rsync := testfs.NeedTool(t, "rsync")
	getfattr := testfs.NeedTool(t, "getfattr")
	getfacl := testfs.NeedTool(t, "getfacl")
	setfacl := testfs.NeedTool(t, "setfacl")
	for _, from := range targets {
		t.Run("from "+from.fs, func(t *testing.T) {
			src := sourceTree(t, from.fs, from.size, setfacl)
			dump := runIn(t, src, getfattr, "-R", "-h", "-d", "-m", "-", ".")
			for _, want := range []string{"security.capability", "system.posix_acl_default", "trusted.origin", "user.comment"} {
				if !strings.Contains(dump, want) {
					t.Fatalf("the source tree has no %s: the comparison would prove nothing", want)
				}
			}
			copyAndCompare(t, src, rsync, getfattr, getfacl)
		})
	}
}

// sourceTree makes the test tree on a new fs and remounts it read-only.
func sourceTree(t *testing.T, fs string, size int64, setfacl string) string {
	srcDev := testfs.Loop(t, size)
	testfs.Mkfs(t, fs, srcDev)
	src := testfs.Mount(t, srcDev, fs, "")
	populate(t, src, setfacl)
	if err := unix.Mount("", src, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount source read-only: %v", err)
	}
	return src
}

func copyAndCompare(t *testing.T, src, rsync, getfattr, getfacl string) {
	want := listing(t, src)
	for _, tg := range targets {
		t.Run("to "+tg.fs, func(t *testing.T) {
			dev := testfs.Loop(t, tg.size)
			testfs.Mkfs(t, tg.fs, dev)
			dst := testfs.Mount(t, dev, tg.fs, "")
			if _, err := os.Lstat(filepath.Join(src, "lost+found")); os.IsNotExist(err) {
				os.Remove(filepath.Join(dst, "lost+found")) // mkfs.ext4's, not the source's
			}
			var last, calls int64
			res, err := Copy(context.Background(), src, dst, Options{ProgressEvery: 1 << 20, Progress: func(done, total int64) {
				if done < last || done > total {
					t.Errorf("Progress(%d, %d) after %d: not monotonic or beyond the total", done, total, last)
				}
				last = done
				calls++
			}})
			if err != nil {
				t.Fatalf("Copy() = %v", err)
			}
			got := listing(t, dst) // first: the other tools change access times
			t.Logf("%s: %+v, %d progress calls", tg.fs, res, calls)
			if last != res.Bytes || calls < 2 {
				t.Errorf("last progress %d after %d calls, want %d (Result.Bytes) and several calls", last, calls, res.Bytes)
			}
			// XFS lists its ACLs again as trusted.SGI_ACL_*: not attributes.
			if out := testfs.Run(t, rsync, "-aHAXS", "--dry-run", "-i", "--delete", "--filter=-x trusted.SGI_ACL_*", src+"/", dst+"/"); out != "" {
				t.Errorf("rsync -aHAXS --dry-run -i finds differences:\n%s", out)
			}
			for _, tool := range [][]string{{getfattr, "-R", "-h", "-d", "-m", "-", "."}, {getfacl, "-R", "-P", "."}} {
				a, b := records(runIn(t, src, tool...)), records(runIn(t, dst, tool...))
				if diff := cmp.Diff(a, b); diff != "" {
					t.Errorf("%s differs (-source +copy):\n%s", filepath.Base(tool[0]), diff)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stat listing differs (-source +copy):\n%s", diff)
			}
			checkSparse(t, src, dst)
		})
	}
}

// populate makes every kind of file, with owners, modes, times, links,
// extended attributes and ACLs.
func populate(t *testing.T, root, setfacl string) {
	t.Helper()
	p := func(name string) string { return filepath.Join(root, name) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		name string
		mode uint32
	}{{"etc", 0o755}, {"tmp", 0o1777}, {"srv", 0o2775}, {"root", 0o700}, {"etc/deep/er/than/that", 0o755}} {
		must(os.MkdirAll(p(d.name), 0o755))
		must(os.Chmod(p(d.name), fs.FileMode(d.mode&0o777)|modeBits(d.mode)))
	}
	must(os.Chown(p("srv"), 1000, 1000))
	write := func(name string, data []byte, mode fs.FileMode, uid, gid int) {
		must(os.WriteFile(p(name), data, 0o644))
		must(os.Chown(p(name), uid, gid))
		must(os.Chmod(p(name), mode))
	}
	write("etc/hostname", []byte("image\n"), 0o644, 0, 0)
	write("etc/shadow", []byte("root:*:1:0:99999:7:::\n"), 0o640, 0, 42)
	write("srv/setuid", []byte("#!/bin/sh\n"), 0o4755|fs.ModeSetuid, 0, 0)
	must(os.Chmod(p("srv/setuid"), 0o755|fs.ModeSetuid|fs.ModeSetgid))
	write("srv/owned", []byte("x"), 0o600, 1234, 5678)
	write("empty", nil, 0o644, 0, 0)
	write("zeros4k", make([]byte, 4096), 0o644, 0, 0)
	write("name with spaces\tand\nnewline é", []byte("odd name"), 0o644, 0, 0)
	write(strings.Repeat("L", 255), []byte("long name"), 0o644, 0, 0)
	big := make([]byte, 3<<20+123) // data, a run of zeros, data: written in full
	for i := range big {
		if i < 1<<20 || i > 2<<20 {
			big[i] = byte(i * 7)
		}
	}
	write("srv/bigzeros", big, 0o644, 0, 0)
	f, err := os.Create(p("srv/sparse"))
	must(err)
	must(f.Truncate(64 << 20))
	_, err = f.WriteAt([]byte("start"), 0)
	must(err)
	_, err = f.WriteAt([]byte("middle"), 40<<20+3)
	must(err)
	must(f.Close())
	// Hard links, three names, one in another directory.
	write("etc/linked", []byte("one inode"), 0o644, 7, 7)
	must(os.Link(p("etc/linked"), p("etc/linked2")))
	must(os.Link(p("etc/linked"), p("srv/linked3")))
	// Symbolic links, owned by someone else.
	must(os.Symlink("hostname", p("etc/rel")))
	must(os.Symlink("/etc/hostname", p("etc/abs")))
	must(os.Symlink("../nowhere", p("etc/dangling")))
	must(os.Lchown(p("etc/rel"), 42, 43))
	must(os.MkdirAll(p("dev"), 0o755))
	must(unix.Mknod(p("dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(unix.Mknod(p("dev/loop9"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 9))))
	must(unix.Mknod(p("dev/fifo"), unix.S_IFIFO|0o620, 0))
	must(unix.Mknod(p("dev/sock"), unix.S_IFSOCK|0o777, 0))
	must(os.Lchown(p("dev/loop9"), 0, 6))
	// Extended attributes: user, trusted, a file capability (v2:
	// cap_net_bind_service permitted and effective), ACLs.
	must(unix.Lsetxattr(p("etc/hostname"), "user.comment", []byte("hello"), 0))
	must(unix.Lsetxattr(p("etc/hostname"), "trusted.origin", []byte{0, 1, 2, 255}, 0))
	capv := make([]byte, 20)
	binary.LittleEndian.PutUint32(capv[0:], 0x02000000|1) // VFS_CAP_REVISION_2 | effective
	binary.LittleEndian.PutUint32(capv[4:], 1<<10)        // CAP_NET_BIND_SERVICE
	must(unix.Lsetxattr(p("srv/setuid"), "security.capability", capv, 0))
	testfs.Run(t, setfacl, "-m", "u:1234:rwx,g:5678:r", p("srv/owned"))
	testfs.Run(t, setfacl, "-d", "-m", "g:5678:rx", p("srv"))
	testfs.Run(t, setfacl, "-m", "u:99:rx", p("srv"))
	// Times, with nanoseconds, on files, directories and a symlink; last.
	for i, name := range []string{"etc/hostname", "etc/linked", "srv/sparse", "etc/rel", "dev/fifo", "etc/deep/er/than/that", "etc/deep", "srv", "."} {
		ts := []unix.Timespec{{Sec: 1_600_000_000 + int64(i), Nsec: 123456789}, {Sec: 1_500_000_000 + int64(i)*1000, Nsec: int64(i) * 1111}}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p(name), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

func modeBits(m uint32) fs.FileMode {
	var b fs.FileMode
	if m&0o1000 != 0 {
		b |= fs.ModeSticky
	}
	if m&0o2000 != 0 {
		b |= fs.ModeSetgid
	}
	return b
}

// listing describes every name under root: type, mode, owner, size,
// device number, times (ns), link target, content hash, and which names
// share an inode (by the first name of the group).
func listing(t *testing.T, root string) []string {
	t.Helper()
	var out, files []string
	first := map[uint64]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%q type=%o mode=%o uid=%d gid=%d rdev=%d:%d mtime=%d.%09d atime=%d.%09d",
			rel, st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, unix.Major(st.Rdev), unix.Minor(st.Rdev),
			st.Mtim.Sec, st.Mtim.Nsec, st.Atim.Sec, st.Atim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			line += fmt.Sprintf(" size=%d", st.Size)
			files = append(files, path)
		case unix.S_IFLNK:
			target, _ := os.Readlink(path)
			line += " target=" + target
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
			if f, ok := first[st.Ino]; ok {
				line += " linkof=" + f
			} else {
				first[st.Ino] = rel
			}
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Contents last: reading changes access times.
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, fmt.Sprintf("%q sha256=%x", rel, sha256.Sum256(b)))
	}
	sort.Strings(out)
	return out
}

// checkSparse: holes stay holes, zero runs become holes.
func checkSparse(t *testing.T, src, dst string) {
	t.Helper()
	for _, name := range []string{"srv/sparse", "srv/bigzeros", "zeros4k"} {
		var a, b unix.Stat_t
		if err := unix.Stat(filepath.Join(src, name), &a); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(filepath.Join(dst, name), &b); err != nil {
			t.Fatal(err)
		}
		if name != "srv/sparse" && b.Blocks >= a.Blocks {
			t.Errorf("%s: %d blocks in the copy, %d in the source: want fewer (zero blocks are holes)", name, b.Blocks, a.Blocks)
		}
		if name == "srv/sparse" && b.Blocks*512 > 1<<20 {
			t.Errorf("%s: %d bytes allocated for 11 bytes of data in 64 MiB", name, b.Blocks*512)
		}
	}
}

// records splits a getfattr/getfacl dump into its per-file records, sorted
// (the tools list files in directory order, which differs between file
// systems).
func records(dump string) []string {
	var out []string
	for _, r := range strings.Split(dump, "\n\n") {
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(r), "\n") {
			if !strings.HasPrefix(l, "trusted.SGI_ACL_") { // XFS's ACL storage
				lines = append(lines, l)
			}
		}
		if r = strings.Join(lines, "\n"); r != "" {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

func runIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v in %s: %v\n%s", args, dir, err, out)
	}
	return string(out)
}

// A layout puts /srv on a file system of its own: the copy reuses the
// mount point (giving its root the source's metadata) and copies a hard
// link that would cross into it as a file of its own.
func TestCopyAcrossMounts(t *testing.T) {
	testfs.NeedRoot(t)
	setfacl := testfs.NeedTool(t, "setfacl")
	src := sourceTree(t, "ext4", 256<<20, setfacl)
	rootDev, srvDev := testfs.Loop(t, 256<<20), testfs.Loop(t, 320<<20)
	testfs.Mkfs(t, "ext4", rootDev)
	testfs.Mkfs(t, "xfs", srvDev, "-s", "size=4096")
	dst := testfs.Mount(t, rootDev, "ext4", "")
	if err := os.Mkdir(filepath.Join(dst, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	testfs.MountAt(t, srvDev, filepath.Join(dst, "srv"), "xfs", "")
	res, err := Copy(context.Background(), src, dst, Options{})
	if err != nil {
		t.Fatalf("Copy() = %v", err)
	}
	if res.HardLinks != 1 {
		t.Errorf("Copy() linked %d names, want 1 (etc/linked2; srv/linked3 is on another file system)", res.HardLinks)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dst, "srv"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o2775 || st.Uid != 1000 || st.Mtim.Sec != 1_500_007_000 {
		t.Errorf("mount point srv: mode %o uid %d mtime %d, want the source's 2775, 1000, 1500007000", st.Mode&0o7777, st.Uid, st.Mtim.Sec)
	}
	a, _ := os.ReadFile(filepath.Join(src, "srv/linked3"))
	b, err := os.ReadFile(filepath.Join(dst, "srv/linked3"))
	if err != nil || string(a) != string(b) {
		t.Errorf("srv/linked3 = %q, %v; want %q", b, err, a)
	}
}

func TestCopyCancelled(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Copy(ctx, src, dst, Options{}); err != context.Canceled {
		t.Errorf("Copy(cancelled) = %v, want context.Canceled", err)
	}
}

func TestCopyErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Copy(context.Background(), file, t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Copy(a file) = %v, want not a directory", err)
	}
	if _, err := Copy(context.Background(), filepath.Join(dir, "missing"), t.TempDir(), Options{}); err == nil {
		t.Error("Copy(missing source) = nil, want an error")
	}
}

// Files of a directory come in the order of their data on the device, not
// in readdir's hash order.
func TestDiskOrder(t *testing.T) {
	testfs.NeedRoot(t)
	dev := testfs.Loop(t, 64<<20)
	testfs.Mkfs(t, "ext4", dev)
	dir := testfs.Mount(t, dev, "ext4", "")
	// 400 names: enough for a hashed (indexed) directory. Inodes are taken
	// in name order, data is written in another order, so readdir's order,
	// the inode order and the disk order all differ.
	var paths []string
	for i := range 400 {
		p := filepath.Join(dir, fmt.Sprintf("f%03d", i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for i := range 400 {
		p := paths[(i*7)%400]
		if err := os.WriteFile(p, make([]byte, 4096+i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o644)
	unix.Sync()
	// Where each file's data starts, as filefrag reports it. ext4 mostly
	// allocates in creation order, but not always (per-CPU preallocation,
	// background writeback), so the order wanted is the one on the disk.
	want := physicalOrder(t, paths)
	f, _ := os.Open(dir)
	names, _ := f.Readdirnames(-1)
	f.Close()
	var readdir []string
	for _, n := range names {
		if strings.HasPrefix(n, "f") {
			readdir = append(readdir, n)
		}
	}
	if slices.Equal(readdir, want) || slices.IsSorted(want) {
		t.Fatalf("readdir or the inode order is already the disk order: the test would prove nothing")
	}
	got := diskOrder(dir, names)
	var files []string
	for _, n := range got {
		if strings.HasPrefix(n, "f") {
			files = append(files, n)
		}
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("diskOrder() files (-filefrag's order +got):\n%s", diff)
	}
	if tail := got[len(got)-3:]; !slices.Contains(tail, "sub") || !slices.Contains(tail, "empty") {
		t.Errorf("diskOrder() = %v, want names without data last", got)
	}
}

var firstExtentLine = regexp.MustCompile(`^\s*0:\s*\d+\.\.\s*\d+:\s*(\d+)\.\.`)

// physicalOrder returns the base names of paths sorted by the first
// physical block of their data, read from filefrag -e.
func physicalOrder(t *testing.T, paths []string) []string {
	t.Helper()
	out, err := exec.Command("filefrag", append([]string{"-e"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("filefrag: %v", err)
	}
	start := map[string]uint64{}
	var cur string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "File size of "); ok {
			cur, _, _ = strings.Cut(rest, " is ")
			continue
		}
		// "   0:        0..       4:       8705..      8709:      5:   last,eof"
		m := firstExtentLine.FindStringSubmatch(line)
		if cur == "" || m == nil {
			continue
		}
		n, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil {
			t.Fatalf("filefrag line %q: %v", line, err)
		}
		start[filepath.Base(cur)] = n
		cur = ""
	}
	if len(start) != len(paths) {
		t.Fatalf("filefrag gave the first extent of %d of %d files:\n%s", len(start), len(paths), out)
	}
	names := make([]string, 0, len(start))
	for n := range start {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return start[names[i]] < start[names[j]] })
	return names
}
