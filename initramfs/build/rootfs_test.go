package build

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// makeTree creates files (content "x"), folders (name ending in "/") and
// symbolic links (target after "->") under a new folder.
func makeTree(t *testing.T, spec map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, target := range spec {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case target == "/":
			err := os.MkdirAll(p, 0o755)
			if err != nil {
				t.Fatal(err)
			}
		case target != "":
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestResolve(t *testing.T) {
	dir := makeTree(t, map[string]string{
		"lib/x86_64-linux-gnu/libc.so.6":        "",
		"lib64/ld.so":                           "/lib/x86_64-linux-gnu/ld-real.so",
		"lib/x86_64-linux-gnu/ld-real.so":       "",
		"sbin/modprobe":                         "/bin/kmod",
		"bin/kmod":                              "",
		"usr/lib/link-to-dir":                   "../../lib/x86_64-linux-gnu",
		"usr/lib/escape":                        "../../../../../../lib/x86_64-linux-gnu/libc.so.6",
		"usr/lib/abs-escape":                    "/../../lib/x86_64-linux-gnu/libc.so.6",
		"loop/a":                                "b",
		"loop/b":                                "a",
		"etc/":                                  "/",
		"lib/x86_64-linux-gnu/libz.so.1":        "libz.so.1.2",
		"lib/x86_64-linux-gnu/libz.so.1.2":      "libz.so.1.2.13",
		"lib/x86_64-linux-gnu/libz.so.1.2.13":   "",
		"lib/x86_64-linux-gnu/dangling.so.1":    "nowhere.so",
		"lib/x86_64-linux-gnu/not-a-dir/x.so":   "",
		"lib/x86_64-linux-gnu/file-as-dir.so":   "",
		"usr/lib/via-file":                      "/lib/x86_64-linux-gnu/file-as-dir.so/x",
		"usr/lib/x86_64-linux-gnu/libself.so":   "libself.so",
		"usr/lib/x86_64-linux-gnu/libdotdot.so": "../../../lib/x86_64-linux-gnu/libc.so.6",
	})
	r := rootFS{dir: dir}
	for _, tc := range []struct {
		in, want string
		hops     []hop
		wantErr  error
	}{
		{in: "/lib/x86_64-linux-gnu/libc.so.6", want: "/lib/x86_64-linux-gnu/libc.so.6"},
		{in: "/lib64/ld.so", want: "/lib/x86_64-linux-gnu/ld-real.so",
			hops: []hop{{"/lib64/ld.so", "/lib/x86_64-linux-gnu/ld-real.so"}}},
		{in: "/sbin/modprobe", want: "/bin/kmod", hops: []hop{{"/sbin/modprobe", "/bin/kmod"}}},
		{in: "/usr/lib/link-to-dir/libc.so.6", want: "/lib/x86_64-linux-gnu/libc.so.6",
			hops: []hop{{"/usr/lib/link-to-dir", "../../lib/x86_64-linux-gnu"}}},
		// ".." stops at the top of the tree, as it does at "/".
		{in: "/usr/lib/escape", want: "/lib/x86_64-linux-gnu/libc.so.6",
			hops: []hop{{"/usr/lib/escape", "../../../../../../lib/x86_64-linux-gnu/libc.so.6"}}},
		{in: "/usr/lib/abs-escape", want: "/lib/x86_64-linux-gnu/libc.so.6",
			hops: []hop{{"/usr/lib/abs-escape", "/../../lib/x86_64-linux-gnu/libc.so.6"}}},
		{in: "/lib/x86_64-linux-gnu/libz.so.1", want: "/lib/x86_64-linux-gnu/libz.so.1.2.13", hops: []hop{
			{"/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1.2"}, {"/lib/x86_64-linux-gnu/libz.so.1.2", "libz.so.1.2.13"}}},
		{in: "/usr/lib/x86_64-linux-gnu/libdotdot.so", want: "/lib/x86_64-linux-gnu/libc.so.6",
			hops: []hop{{"/usr/lib/x86_64-linux-gnu/libdotdot.so", "../../../lib/x86_64-linux-gnu/libc.so.6"}}},
		{in: "/etc", want: "/etc"},
		{in: "/loop/a", wantErr: errLoop},
		{in: "/usr/lib/x86_64-linux-gnu/libself.so", wantErr: errLoop},
		{in: "/lib/x86_64-linux-gnu/dangling.so.1", wantErr: os.ErrNotExist},
		{in: "/nosuch", wantErr: os.ErrNotExist},
		{in: "/usr/lib/via-file", wantErr: errNotDir},
	} {
		got, hops, err := r.resolve(tc.in)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("resolve(%s) = %q, %v; want error %v", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("resolve(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		if diff := cmp.Diff(tc.hops, hops, cmp.AllowUnexported(hop{})); diff != "" {
			t.Errorf("resolve(%s) links followed mismatch (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestGlob(t *testing.T) {
	dir := makeTree(t, map[string]string{"sbin/lvm": "", "sbin/lvcreate": "lvm", "sbin/vgs": "lvm", "sbin/mdadm": ""})
	r := rootFS{dir: dir}
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"/sbin/lv*", []string{"/sbin/lvcreate", "/sbin/lvm"}},
		{"/sbin/mdadm", []string{"/sbin/mdadm"}},
		{"/sbin/absent", []string{"/sbin/absent"}}, // no meta: the caller finds out
		{"/sbin/x*", []string{}},
		{`/sbin/\[`, []string{}},
	} {
		got, err := r.glob(tc.pattern)
		if err != nil {
			t.Errorf("glob(%s): %v", tc.pattern, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("glob(%s) mismatch (-want +got):\n%s", tc.pattern, diff)
		}
	}
}
