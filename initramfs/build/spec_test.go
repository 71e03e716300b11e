package build

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLayer(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     LayerSpec
		wantErr  string
	}{
		{
			name: "all directives",
			in: `# a comment
below tools   # trailing comment
package a b
package c
file /sbin/x /usr/bin/y*
module raid1 dm-mod
link /bin/sh dash
`,
			want: LayerSpec{Name: "t", Below: []string{"tools"}, Packages: []string{"a", "b", "c"},
				Files: []string{"/sbin/x", "/usr/bin/y*"}, Modules: []string{"raid1", "dm-mod"},
				Links: map[string]string{"/bin/sh": "dash"}},
		},
		{name: "empty", in: "\n\n# nothing\n", want: LayerSpec{Name: "t", Links: map[string]string{}}},
		{name: "unknown directive", in: "copy /a /b\n", wantErr: `line 1: unknown directive "copy"`},
		{name: "no arguments", in: "\nfile\n", wantErr: "line 2: file: no arguments"},
		{name: "relative file", in: "file sbin/x\n", wantErr: `"sbin/x" is not a clean absolute path`},
		{name: "unclean file", in: "file /sbin/../etc/shadow\n", wantErr: "not a clean absolute path"},
		{name: "bad pattern", in: "file /usr/bin/[\n", wantErr: "pattern"},
		{name: "link arity", in: "link /bin/sh\n", wantErr: "want PATH TARGET"},
		{name: "link root", in: "link / x\n", wantErr: "not a clean absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLayer("t", strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseLayer(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLayer(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseLayer(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestDescribedLayers checks the layers byoi ships parse and hold what
// the installer and the rescue system rely on.
func TestDescribedLayers(t *testing.T) {
	if got, want := LayerNames(), []string{"rescue", "tools"}; !cmp.Equal(got, want) {
		t.Fatalf("LayerNames() = %v, want %v", got, want)
	}
	tools, err := Layer("tools")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"/sbin/mdadm", "/sbin/lvm", "/sbin/mkfs.ext4", "/sbin/mkfs.xfs", "/sbin/mkfs.btrfs",
		"/sbin/mkfs.vfat", "/sbin/sgdisk", "/sbin/sfdisk", "/bin/lsblk", "/sbin/blkid", "/bin/mount", "/sbin/wipefs",
		"/sbin/losetup", "/bin/kmod", "/bin/bash", "/bin/sh", "/usr/sbin/chroot", "/bin/dd"} {
		if !contains(tools.Files, f) {
			t.Errorf("Layer(tools).Files lacks %s", f)
		}
	}
	for _, m := range []string{"md_mod", "raid0", "raid1", "raid456", "raid10", "dm_mod", "nbd", "ext4", "xfs", "btrfs", "vfat"} {
		if !contains(tools.Modules, m) {
			t.Errorf("Layer(tools).Modules lacks %s", m)
		}
	}
	if conf := string(tools.Extra["/etc/lvm/lvm.conf"]); !strings.Contains(conf, "udev_rules = 0") {
		t.Errorf("Layer(tools).Extra[/etc/lvm/lvm.conf] = %q, want LVM told not to wait for udev", conf)
	}
	rescue, err := Layer("rescue")
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(rescue.Below, []string{"tools"}) {
		t.Errorf("Layer(rescue).Below = %v, want [tools]", rescue.Below)
	}
	for _, f := range []string{"/usr/sbin/sshd", "/usr/bin/ssh-keygen", "/usr/bin/curl", "/bin/ip", "/bin/ping"} {
		if !contains(rescue.Files, f) {
			t.Errorf("Layer(rescue).Files lacks %s", f)
		}
	}
	if _, err := Layer("nosuch"); err == nil || !strings.Contains(err.Error(), "rescue, tools") {
		t.Errorf("Layer(nosuch) error = %v, want one listing the known layers", err)
	}
}
