package configdrive

import (
	"bytes"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// bigConfig has user data large enough to span many blocks and clusters.
func bigConfig(n int) Config {
	c := cases[1].cfg
	c.UserData = bytes.Repeat([]byte("#cloud-config padding line\n"), n/27+1)[:n]
	return c
}

func fsCases() []struct {
	name string
	cfg  Config
} {
	out := slices.Clone(cases)
	out = append(out, struct {
		name string
		cfg  Config
	}{"user data 300 KiB", bigConfig(300 << 10)})
	return out
}

func TestISO(t *testing.T) {
	needTools(t, "isoinfo", "blkid")
	for _, tc := range fsCases() {
		t.Run(tc.name, func(t *testing.T) {
			img, err := ISO(tc.cfg)
			if err != nil {
				t.Fatalf("ISO = %v", err)
			}
			if again, _ := ISO(tc.cfg); !bytes.Equal(img, again) {
				t.Errorf("ISO is not deterministic")
			}
			if len(img)%2048 != 0 {
				t.Errorf("ISO size %d is not a multiple of 2048", len(img))
			}
			p := writeTemp(t, "cd.iso", img)
			checkBlkid(t, p, "iso9660")
			if pvd := run(t, "isoinfo", "-d", "-i", p); !strings.Contains(pvd, "Volume id: "+Label) || !strings.Contains(pvd, "Rock Ridge signatures version 1 found") {
				t.Errorf("isoinfo -d:\n%s\nwant volume id %s and Rock Ridge", pvd, Label)
			}
			want, _ := Files(tc.cfg)
			var wantList []string
			for path := range want {
				wantList = append(wantList, "/"+path)
			}
			wantList = append(wantList, "/openstack", "/openstack/latest", "/openstack/"+Version)
			slices.Sort(wantList)
			gotList := strings.Fields(run(t, "isoinfo", "-R", "-f", "-i", p))
			slices.Sort(gotList)
			if diff := cmp.Diff(wantList, gotList); diff != "" {
				t.Errorf("isoinfo -R -f mismatch (-want +got):\n%s", diff)
			}
			for path, data := range want {
				if got := run(t, "isoinfo", "-R", "-i", p, "-x", "/"+path); got != string(data) {
					t.Errorf("isoinfo -x /%s = %d bytes %.60q, want %d bytes %.60q", path, len(got), got, len(data), data)
				}
			}
		})
	}
}

func TestVFAT(t *testing.T) {
	needTools(t, "fsck.fat", "mdir", "mtype", "blkid")
	vcases := append(fsCases(), struct {
		name string
		cfg  Config
	}{"user data 20 MiB (multi-sector clusters)", bigConfig(20 << 20)})
	for _, tc := range vcases {
		for _, ss := range []int{4096, 512} {
			t.Run(tc.name+" "+strconv.Itoa(ss), func(t *testing.T) {
				img, err := vfat(tc.cfg, ss)
				if err != nil {
					t.Fatalf("vfat = %v", err)
				}
				if again, _ := vfat(tc.cfg, ss); !bytes.Equal(img, again) {
					t.Errorf("vfat is not deterministic")
				}
				p := writeTemp(t, "cd.vfat", img)
				out, err := exec.Command("fsck.fat", "-n", p).CombinedOutput()
				if err != nil || strings.Count(string(out), "\n") != 2 {
					t.Errorf("fsck.fat -n: %v\n%s", err, out)
				}
				checkBlkid(t, p, "vfat")
				want, _ := Files(tc.cfg)
				for path, data := range want {
					if got := run(t, "mtype", "-i", p, "::/"+path); got != string(data) {
						t.Errorf("mtype ::/%s = %d bytes %.60q, want %d bytes %.60q", path, len(got), got, len(data), data)
					}
				}
				var wantNames []string
				for path := range want {
					wantNames = append(wantNames, "::/"+path)
				}
				slices.Sort(wantNames)
				var gotNames []string
				for _, l := range strings.Split(run(t, "mdir", "-/", "-b", "-i", p, "::/"), "\n") {
					if l != "" && !strings.HasSuffix(l, "/") {
						gotNames = append(gotNames, l)
					}
				}
				slices.Sort(gotNames)
				if diff := cmp.Diff(wantNames, gotNames); diff != "" {
					t.Errorf("mdir -/ -b mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}
