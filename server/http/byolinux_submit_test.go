package http

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
)

// BYOLinux at submission, through every route that can carry it: OVH's
// reinstall (operatingSystem + storage) and install/start (templateName +
// details), and the native task route (operatingSystem + partitioning).
// Bad layouts are refused with the same message on each, before anything
// is stored; good ones become a byolinux_64 task with BYOLinux's steps.

// byolinuxRoute builds a request body for one route from a partitioning
// JSON object ("" for none).
type byolinuxRoute struct {
	name, path string
	ok         int // status of an accepted request
	body       func(partitioning string) string
}

var byolinuxRoutes = []byolinuxRoute{
	{"reinstall", "/1.0/dedicated/server/web-1/reinstall", 200, func(p string) string {
		storage := ""
		if p != "" {
			storage = fmt.Sprintf(`,"storage":[{"diskGroupId":1,"partitioning":%s}]`, p)
		}
		return `{"operatingSystem":"byolinux_64","customizations":{"imageURL":"https://img.example/debian.qcow2"}` + storage + `}`
	}},
	{"native", "/api/v1/machines/web-1/tasks", 201, func(p string) string {
		part := ""
		if p != "" {
			part = `,"partitioning":` + p
		}
		return `{"operatingSystem":"byolinux_64","imageURL":"https://img.example/debian.qcow2"` + part + `}`
	}},
}

func TestBYOLinuxSubmissionRefused(t *testing.T) {
	tests := []struct {
		name, partitioning string
		lastClient         string // the machine's last network boot
		msg                string
	}{
		{"two rest entries", `{"layout":[{"mountPoint":"/","fileSystem":"ext4","size":0},{"mountPoint":"/home","fileSystem":"xfs","size":0}]}`, "",
			"Only one layout entry may have size 0 (the rest of the disks): /, /home all do"},
		{"raid5 on two disks", `{"disks":2,"layout":[{"mountPoint":"/","fileSystem":"ext4","raidLevel":5,"size":0}]}`, "",
			"raidLevel 5 for mountPoint / needs at least 3 disks, the partitioning uses 2"},
		{"raid10 on three disks", `{"disks":3,"layout":[{"mountPoint":"/","fileSystem":"xfs","raidLevel":10,"size":0}]}`, "",
			"raidLevel 10 for mountPoint / needs at least 4 disks, the partitioning uses 3"},
		{"raid level 3", `{"layout":[{"mountPoint":"/","fileSystem":"ext4","raidLevel":3,"size":0}]}`, "",
			"raidLevel 3 is not supported for mountPoint /: expected 0, 1, 5, 6 or 10"},
		{"unknown file system", `{"layout":[{"mountPoint":"/","fileSystem":"ntfs","size":0}]}`, "",
			`Unknown fileSystem "ntfs" for mountPoint /: expected one of ext4, xfs, btrfs, vfat, swap`},
		{"no /boot/efi on a UEFI machine", `{"layout":[{"mountPoint":"/","fileSystem":"ext4","size":0}]}`, "efi/x86_64",
			"The layout has no /boot/efi (vfat) entry, which this UEFI machine needs to boot (e.g. 511 MiB, raidLevel 1)"},
		{"no root", `{"layout":[{"mountPoint":"/boot/efi","fileSystem":"vfat","size":511},{"mountPoint":"/srv","fileSystem":"ext4","size":0}]}`, "",
			"The layout has no / (root) file system"},
	}
	for _, r := range byolinuxRoutes {
		for _, tc := range tests {
			t.Run(r.name+"/"+tc.name, func(t *testing.T) {
				e := newEnv(t)
				e.addMachine(boot.Machine{Name: "web-1", LastClient: tc.lastClient})
				w := e.do("POST", r.path, "Bearer good", r.body(tc.partitioning))
				if got := apiErr(t, w); w.Code != 400 || got.Message != tc.msg {
					t.Errorf("POST %s = %d %q, want 400 %q", r.path, w.Code, got.Message, tc.msg)
				}
				if ts, _ := e.st.Tasks(context.Background(), "web-1"); len(ts) != 0 {
					t.Errorf("a refused request stored %d tasks, want none", len(ts))
				}
			})
		}
	}
}

func TestBYOLinuxSubmissionAccepted(t *testing.T) {
	one, five := 1, 5
	layout := `{"disks":3,"schemeName":"mine","layout":[{"mountPoint":"/boot/efi","fileSystem":"vfat","raidLevel":1,"size":511},` +
		`{"mountPoint":"/","fileSystem":"xfs","raidLevel":5,"size":0}]}`
	explicit := &boot.Partitioning{Disks: 3, SchemeName: "mine", Layout: []boot.LayoutEntry{
		{MountPoint: "/boot/efi", FileSystem: "vfat", RaidLevel: &one, Size: 511},
		{MountPoint: "/", FileSystem: "xfs", RaidLevel: &five, Size: 0},
	}}
	type req struct {
		name, path, body string
		ok               int
		want             *boot.Partitioning
	}
	var reqs []req
	for _, r := range byolinuxRoutes {
		reqs = append(reqs, req{r.name + "/default layout", r.path, r.body(""), r.ok, nil},
			req{r.name + "/explicit layout", r.path, r.body(layout), r.ok, explicit})
	}
	reqs = append(reqs,
		req{"install/start/noRaid", "/1.0/dedicated/server/web-1/install/start",
			`{"templateName":"byolinux_64","partitionSchemeName":"default","details":{"noRaid":true},"userMetadata":[{"key":"imageURL","value":"https://img.example/debian.qcow2"}]}`,
			200, &boot.Partitioning{Disks: 1, SchemeName: "default"}},
		req{"install/start/default", "/1.0/dedicated/server/web-1/install/start",
			`{"templateName":"byolinux_64","userMetadata":[{"key":"imageURL","value":"https://img.example/debian.qcow2"}]}`,
			200, nil})
	for _, rq := range reqs {
		t.Run(rq.name, func(t *testing.T) {
			e := newEnv(t)
			e.addMachine(boot.Machine{Name: "web-1", LastClient: "efi/x86_64"})
			e.api("POST", rq.path, rq.body, rq.ok)
			ts, err := e.st.Tasks(context.Background(), "web-1")
			if err != nil || len(ts) != 1 {
				t.Fatalf("tasks after POST %s = %d, %v; want one", rq.path, len(ts), err)
			}
			task := ts[0]
			if task.Spec.OperatingSystem != boot.OSBYOLinux || task.Spec.ImageType != "qcow2" {
				t.Errorf("task spec = %s %s, want byolinux_64 qcow2", task.Spec.OperatingSystem, task.Spec.ImageType)
			}
			if diff := cmp.Diff(rq.want, task.Spec.Partitioning); diff != "" {
				t.Errorf("task partitioning (-want +got):\n%s", diff)
			}
			var ids []boot.StepID
			for _, s := range task.Steps {
				ids = append(ids, s.ID)
			}
			if diff := cmp.Diff(boot.StepsFor(boot.OSBYOLinux), ids); diff != "" {
				t.Errorf("task steps (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBringYourOwnImageIsBYOI: the oldest generation has no operating
// system field: its tasks are byoi_64 with BYOI's steps.
func TestBringYourOwnImageIsBYOI(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1"})
	e.api("POST", "/1.0/dedicated/server/web-1/bringYourOwnImage", `{"URL":"https://img.example/debian.qcow2","type":"qcow2"}`, 200)
	ts, err := e.st.Tasks(context.Background(), "web-1")
	if err != nil || len(ts) != 1 {
		t.Fatalf("tasks = %d, %v; want one", len(ts), err)
	}
	var ids []boot.StepID
	for _, s := range ts[0].Steps {
		ids = append(ids, s.ID)
	}
	if ts[0].Spec.OperatingSystem != boot.OSBYOI || cmp.Diff(boot.Steps(), ids) != "" {
		t.Errorf("bringYourOwnImage task = %s with steps %v, want byoi_64 with %v", ts[0].Spec.OperatingSystem, ids, boot.Steps())
	}
}
