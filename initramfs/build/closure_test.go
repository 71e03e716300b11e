package build

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// elf32Decoy is a 32-bit x86 ELF header: a library of the wrong class
// that the resolver must pass over.
func elf32Decoy() []byte {
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, v := range []any{uint16(3), uint16(3), uint32(1), uint32(0), uint32(0), uint32(0), uint32(0),
		uint16(52), uint16(32), uint16(0), uint16(40), uint16(0), uint16(0)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	return b.Bytes()
}

// hostELF returns the host's copy of a program and its interpreter, or
// skips the test when the host has no such program (fails under
// BYOI_INTEGRATION=1, as in CI).
func hostELF(t *testing.T, names ...string) (prog, interp string) {
	t.Helper()
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		nd, err := readNeeds(f, fi.Size())
		f.Close()
		if err != nil || nd.Interp == "" {
			continue
		}
		return p, nd.Interp
	}
	if os.Getenv("BYOI_INTEGRATION") == "1" {
		t.Fatalf("precondition failed with BYOI_INTEGRATION=1: no dynamic %v on this host", names)
	}
	t.Skipf("no dynamic %v on this host", names)
	return "", ""
}

func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}

func TestClosureFakeTree(t *testing.T) {
	truePath, interp := hostELF(t, "true")
	shPath, _ := hostELF(t, "dash")
	libc, err := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/libc.so.6")
	if err != nil {
		t.Skipf("no host libc: %v", err)
	}
	realInterp, err := filepath.EvalSymlinks(interp)
	if err != nil {
		t.Fatal(err)
	}
	dir := makeTree(t, map[string]string{
		"lib64/ld-linux-x86-64.so.2": "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
		"bin/sh":                     "dash",
		"sbin/true-link":             "../bin/true",
	})
	copyFile(t, truePath, filepath.Join(dir, "bin/true"), 0o755)
	copyFile(t, shPath, filepath.Join(dir, "bin/dash"), 0o755)
	copyFile(t, realInterp, filepath.Join(dir, "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), 0o755)
	// libc in the second search folder, a 32-bit decoy in the first.
	copyFile(t, libc, filepath.Join(dir, "usr/lib/x86_64-linux-gnu/libc.so.6"), 0o644)
	if err := os.WriteFile(filepath.Join(dir, "lib/x86_64-linux-gnu/libc.so.6"), elf32Decoy(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sbin/script"), []byte("#!/bin/sh -e\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "sbin/script"), 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	c := newClosure(dir)
	for _, p := range []string{"/sbin/true-link", "/sbin/script"} {
		if err := c.add(p, "test"); err != nil {
			t.Fatalf("closure add %s: %v", p, err)
		}
	}
	host := func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) }
	want := map[string]item{
		"/sbin/true-link":             {target: "../bin/true"},
		"/bin/true":                   {src: host("/bin/true"), perm: 0o755},
		"/lib64/ld-linux-x86-64.so.2": {target: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"},
		"/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2": {src: host("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"), perm: 0o755},
		"/usr/lib/x86_64-linux-gnu/libc.so.6":        {src: host("/usr/lib/x86_64-linux-gnu/libc.so.6"), perm: 0o644},
		"/sbin/script":                               {src: host("/sbin/script"), perm: 0o4755},
		"/bin/sh":                                    {target: "dash"},
		"/bin/dash":                                  {src: host("/bin/dash"), perm: 0o755},
	}
	if diff := cmp.Diff(want, c.items, cmp.AllowUnexported(item{})); diff != "" {
		t.Errorf("closure mismatch (-want +got):\n%s", diff)
	}
	// glibc's libc.so.6 names the loader in DT_NEEDED.
	wantLibs := []string{"/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"}
	if diff := cmp.Diff(wantLibs, c.libs); diff != "" {
		t.Errorf("closure libraries mismatch (-want +got):\n%s", diff)
	}

	// Without the library, the error names it and who needs it.
	os.Remove(filepath.Join(dir, "usr/lib/x86_64-linux-gnu/libc.so.6"))
	err = newClosure(dir).add("/bin/true", "test")
	if err == nil || !strings.Contains(err.Error(), "/bin/true needs library libc.so.6: not found") {
		t.Errorf("closure add /bin/true without libc: error = %v, want one naming libc.so.6 and /bin/true", err)
	}
	if err := newClosure(dir).add("/lib", "test"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("closure add /lib: error = %v, want not a regular file", err)
	}
}

func TestLibDirs(t *testing.T) {
	def := defaultLibDirs
	for _, tc := range []struct {
		name string
		nd   needs
		want []string
	}{
		{"none", needs{}, def},
		{"rpath", needs{RPath: []string{"/opt/lib"}}, append([]string{"/opt/lib"}, def...)},
		{"runpath hides rpath", needs{RPath: []string{"/opt/lib"}, RunPath: []string{"/run/lib"}}, append([]string{"/run/lib"}, def...)},
		{"origin", needs{RunPath: []string{"$ORIGIN/../lib", "${ORIGIN}"}}, append([]string{"/usr/lib", "/usr/bin"}, def...)},
		{"other tokens and relative skipped", needs{RunPath: []string{"/x/$LIB", "rel"}}, def},
	} {
		if diff := cmp.Diff(tc.want, libDirs(tc.nd, "/usr/bin/prog")); diff != "" {
			t.Errorf("libDirs(%s) mismatch (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestClosureAgainstLdd resolves host programs with the host as the tree
// and compares the libraries with what ldd (the loader itself) loads.
func TestClosureAgainstLdd(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd")
	}
	n := 0
	for _, name := range []string{"ssh", "ssh-keygen", "curl", "qemu-img", "sgdisk", "mkfs.fat", "dnsmasq", "ip", "bash", "tar"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		out, err := exec.Command("ldd", p).Output()
		if err != nil {
			continue // static
		}
		// "libX.so.1 => /path (addr)", and the loader as "/path (addr)"
		// (glibc's libc.so.6 names it in DT_NEEDED).
		var want []string
		for _, l := range strings.Split(string(out), "\n") {
			l = strings.TrimSpace(l)
			if lib, _, ok := strings.Cut(l, " => "); ok {
				want = append(want, lib)
			} else if strings.HasPrefix(l, "/") {
				want = append(want, path.Base(strings.Fields(l)[0]))
			}
		}
		c := newClosure("/")
		if err := c.add(p, "test"); err != nil {
			t.Errorf("closure of %s: %v", p, err)
			continue
		}
		var got []string
		for _, l := range c.libs {
			got = append(got, path.Base(l))
		}
		sort.Strings(want)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("closure of %s: libraries differ from ldd's (-ldd +ours):\n%s", p, diff)
		}
		n++
	}
	if n < 3 {
		t.Skipf("only %d dynamic programs to compare on this host", n)
	}
}

func FuzzReadNeeds(f *testing.F) {
	for _, p := range []string{"/usr/bin/true"} {
		if b, err := os.ReadFile(p); err == nil && len(b) < 256<<10 {
			f.Add(b)
		}
	}
	f.Add(elf32Decoy())
	f.Add([]byte("#!/bin/sh -e\n"))
	f.Add([]byte("#!"))
	f.Add([]byte(elf.ELFMAG))
	f.Fuzz(func(t *testing.T, b []byte) {
		nd, err := readNeeds(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if bytes.HasPrefix(b, []byte("#!")) && nd.ELF {
			t.Errorf("readNeeds(script) = ELF")
		}
		if strings.ContainsRune(nd.Interp, '\n') {
			t.Errorf("readNeeds: interpreter %q holds a newline", nd.Interp)
		}
	})
}
