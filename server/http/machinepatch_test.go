package http

import (
	"context"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

// TestChangeMachineKeepsFields: PUT and PATCH keep what the body leaves
// out (the disk rule that PUT used to drop), PUT replaces a named field
// whole, PATCH merges objects and resets a field given as null.
func TestChangeMachineKeepsFields(t *testing.T) {
	base := `{"serviceName":"web-1","macs":["52:54:00:aa:00:01"],"ipv4":"198.51.100.7","disk":{"path":"/dev/sda","minSize":1000},"diskGroups":{"1":{"serial":"S1"}},"efiBootloaderPath":"\\efi\\debian\\grubx64.efi"}`
	full := boot.Machine{
		Name: "web-1", MACs: []string{"52:54:00:aa:00:01"}, IPv4: "198.51.100.7",
		Disk: boot.DiskHints{Path: "/dev/sda", MinSize: 1000}, DiskGroups: map[int]boot.DiskHints{1: {Serial: "S1"}},
		EFIBootloaderPath: `\efi\debian\grubx64.efi`, Created: t0,
	}
	with := func(f func(*boot.Machine)) boot.Machine {
		m := full
		m.MACs = append([]string(nil), full.MACs...)
		f(&m)
		return m
	}
	for _, tc := range []struct {
		name, method, body string
		want               boot.Machine
	}{
		{"PUT without disk keeps it", "PUT", `{"efiBootloaderPath":"\\efi\\boot\\bootx64.efi"}`,
			with(func(m *boot.Machine) { m.EFIBootloaderPath = `\efi\boot\bootx64.efi` })},
		{"PUT of disk replaces it whole", "PUT", `{"disk":{"serial":"ABC"}}`,
			with(func(m *boot.Machine) { m.Disk = boot.DiskHints{Serial: "ABC"} })},
		{"PATCH of disk merges", "PATCH", `{"disk":{"serial":"ABC"}}`,
			with(func(m *boot.Machine) { m.Disk.Serial = "ABC" })},
		{"PATCH null clears a disk field", "PATCH", `{"disk":{"minSize":null}}`,
			with(func(m *boot.Machine) { m.Disk.MinSize = 0 })},
		{"PATCH null clears a field", "PATCH", `{"ipv4":null,"diskGroups":null}`,
			with(func(m *boot.Machine) { m.IPv4, m.DiskGroups = "", nil })},
		{"PATCH macs replaces the list", "PATCH", `{"macs":["52:54:00:aa:00:02","52:54:00:aa:00:03"]}`,
			with(func(m *boot.Machine) { m.MACs = []string{"52:54:00:aa:00:02", "52:54:00:aa:00:03"} })},
		{"PATCH empty object changes nothing", "PATCH", `{}`, full},
		{"PATCH rename", "PATCH", `{"serviceName":"web-9"}`, with(func(m *boot.Machine) { m.Name = "web-9" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.api("POST", "/api/v1/machines", base, 201)
			got := decode[boot.Machine](t, e.api(tc.method, "/api/v1/machines/web-1", tc.body, 200))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s %s: answer (-want +got):\n%s", tc.method, tc.body, diff)
			}
			stored, err := e.st.Machine(context.Background(), tc.want.Name)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, stored); diff != "" {
				t.Errorf("%s %s: stored (-want +got):\n%s", tc.method, tc.body, diff)
			}
		})
	}
}

func TestChangeMachineRefuses(t *testing.T) {
	e := newEnv(t)
	e.api("POST", "/api/v1/machines", `{"serviceName":"web-1","macs":["52:54:00:aa:00:01"],"disk":{"path":"/dev/sda"}}`, 201)
	for _, tc := range []struct {
		name, method, body string
		code               int
		msg                string
	}{
		{"unknown field", "PATCH", `{"disk":{"pth":"/dev/sdb"}}`, 400, `Invalid JSON body: unknown field "pth"`},
		{"unknown top field", "PUT", `{"mac":"x"}`, 400, `Invalid JSON body: unknown field "mac"`},
		{"wrong type", "PATCH", `{"disk":{"minSize":"big"}}`, 400, "Invalid JSON body: field disk.minSize must be a int64, not a JSON string"},
		{"not an object", "PATCH", `[1]`, 400, "Invalid JSON body: field body must be a map, not a JSON array"},
		{"null body", "PATCH", `null`, 400, "Invalid JSON body: a JSON object of machine fields is expected"},
		{"empty body", "PATCH", ``, 400, "Invalid JSON body: empty body"},
		{"bad MAC", "PATCH", `{"macs":["nope"]}`, 400, `invalid MAC address "nope"`},
		{"bad EFI path", "PATCH", `{"efiBootloaderPath":"efi"}`, 400, `invalid efiBootloaderPath "efi": must start with \ (e.g. \efi\debian\grubx64.efi)`},
		{"unknown machine", "PATCH", `{}`, 404, "machine nope: not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/api/v1/machines/web-1"
			if tc.code == 404 {
				path = "/api/v1/machines/nope"
			}
			w := e.do(tc.method, path, "Bearer good", tc.body)
			if got := apiErr(t, w); w.Code != tc.code || got.Message != tc.msg {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.body, w.Code, got.Message, tc.code, tc.msg)
			}
		})
	}
	m, _ := e.st.Machine(context.Background(), "web-1")
	if m.Disk.Path != "/dev/sda" {
		t.Errorf("disk after refused changes = %+v, want the original", m.Disk)
	}
}

func TestListAllTasks(t *testing.T) {
	e := newEnv(t)
	e.api("POST", "/api/v1/machines", `{"serviceName":"a","macs":["52:54:00:aa:00:01"]}`, 201)
	e.api("POST", "/api/v1/machines", `{"serviceName":"b","macs":["52:54:00:aa:00:02"]}`, 201)
	spec := `{"imageURL":"http://a/b.raw","imageType":"raw"}`
	t1 := decode[boot.Task](t, e.api("POST", "/api/v1/machines/a/tasks", spec, 201))
	e.api("POST", "/api/v1/tasks/"+itoa(t1.ID)+"/cancel", "", 200)
	t2 := decode[boot.Task](t, e.api("POST", "/api/v1/machines/b/tasks", spec, 201))
	t3 := decode[boot.Task](t, e.api("POST", "/api/v1/machines/a/tasks", spec, 201))
	ids := func(path string) []int64 {
		var out []int64
		for _, task := range decode[[]boot.Task](t, e.api("GET", path, "", 200)) {
			out = append(out, task.ID)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{t3.ID, t2.ID, t1.ID}},
		{"?machine=a", []int64{t3.ID, t1.ID}},
		{"?status=active", []int64{t3.ID, t2.ID}},
		{"?status=cancelled,done", []int64{t1.ID}},
		{"?limit=1", []int64{t3.ID}},
		{"?machine=b&status=todo", []int64{t2.ID}},
	} {
		if diff := cmp.Diff(tc.want, ids("/api/v1/tasks"+tc.query)); diff != "" {
			t.Errorf("GET /api/v1/tasks%s IDs (-want +got):\n%s", tc.query, diff)
		}
	}
	for _, tc := range []struct {
		query string
		code  int
		msg   string
	}{
		{"?limit=0", 400, `Invalid limit "0": a number from 1 to 1000 is expected`},
		{"?status=running", 400, `Invalid status "running": use active, init, todo, doing, done, cancelled, customerError, ovhError`},
		{"?machine=nope", 404, "machine nope: not found"},
	} {
		w := e.do("GET", "/api/v1/tasks"+tc.query, "Bearer good", "")
		if got := apiErr(t, w); w.Code != tc.code || got.Message != tc.msg {
			t.Errorf("GET /api/v1/tasks%s = %d %q, want %d %q", tc.query, w.Code, got.Message, tc.code, tc.msg)
		}
	}
	// Secrets never listed.
	for _, task := range decode[[]boot.Task](t, e.api("GET", "/api/v1/tasks", "", 200)) {
		if task.TokenHash != "" {
			t.Errorf("task %d listed with its token hash", task.ID)
		}
	}
}
