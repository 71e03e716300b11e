package http

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/google/go-cmp/cmp"
)

func agentReq(e *env, token, path, body string) *httptest.ResponseRecorder {
	method := "POST"
	if path == agentapi.PathTask || path == agentapi.PathRescue {
		method = "GET"
	}
	return e.do(method, path, "Bearer "+token, body)
}

func agentDo(t *testing.T, e *env, token, path, body string, want int) *httptest.ResponseRecorder {
	t.Helper()
	w := agentReq(e, token, path, body)
	if w.Code != want {
		t.Fatalf("agent %s %s = %d %s, want %d", path, body, w.Code, w.Body.String(), want)
	}
	return w
}

// bootInstaller registers a machine with a task and boots it into the
// installer, returning the token.
func bootInstaller(t *testing.T, e *env, name, mac, body string) string {
	t.Helper()
	e.addMachine(boot.Machine{Name: name, MACs: []string{mac},
		Disk:       boot.DiskHints{Path: "/dev/vda"},
		DiskGroups: map[int]boot.DiskHints{2: {Serial: "SN2"}}})
	e.api("POST", "/1.0/dedicated/server/"+name+"/reinstall", body, 200)
	return scriptToken(t, e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac, "", "").Body.String())
}

// bootInstallerSmall is bootInstaller for servers whose body limit is too
// small for a reinstall request: the task is created through the lifecycle.
func bootInstallerSmall(t *testing.T, e *env, name, mac string) string {
	t.Helper()
	e.addMachine(boot.Machine{Name: name, MACs: []string{mac}})
	spec := boot.InstallSpec{ImageURL: "https://img.example/debian.raw", ImageType: "raw"}
	if _, err := e.srv.lc.Create(context.Background(), name, spec, ""); err != nil {
		t.Fatalf("Create(%s) = %v", name, err)
	}
	return scriptToken(t, e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac, "", "").Body.String())
}

// bootRescue registers a machine in rescue mode and boots it, returning
// the rescue system's token.
func bootRescue(t *testing.T, e *env, name, mac string) string {
	t.Helper()
	e.addMachine(boot.Machine{Name: name, MACs: []string{mac}, BootMode: boot.BootModeRescue})
	return scriptToken(t, e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac, "", "").Body.String())
}

func TestAgentInstallSuccess(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	body := `{"operatingSystem":"byoi_64","customizations":{"imageURL":"https://img.example/a.raw","imageType":"raw",
		"efiBootloaderPath":"\\efi\\debian\\grubx64.efi","httpHeaders":{"Authorization":"` + canaryHeader + `"}},"storage":[{"diskGroupId":2}]}`
	tok := bootInstaller(t, e, "web-1", "52:54:00:00:00:01", body)

	got := decode[agentapi.Task](t, agentDo(t, e, tok, agentapi.PathTask, "", 200))
	if got.Spec.HTTPHeaders["Authorization"] != canaryHeader {
		t.Errorf("agent task headers = %v, want the real secret (the installer needs it)", got.Spec.HTTPHeaders)
	}
	if got.Disk != (boot.DiskHints{Serial: "SN2"}) || !cmp.Equal(got.Steps, boot.Steps()) {
		t.Errorf("agent task disk %+v steps %v, want disk group 2 and all steps", got.Disk, got.Steps)
	}
	task, _ := e.st.ActiveTask(ctx, "web-1")
	if task.Status != boot.StatusDoing || !task.StartDate.Equal(t0) {
		t.Errorf("task after fetch = %s since %v, want doing since %v", task.Status, task.StartDate, t0)
	}

	e.advance(10 * time.Second)
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"doing","bytesDone":1000,"bytesTotal":4000,"comment":"Writing image to /dev/vda"}`, 204)
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"doing","bytesDone":3000,"bytesTotal":4000}`, 204)
	st := decode[ovhInstallStatus](t, e.api("GET", "/1.0/dedicated/server/web-1/install/status", "", 200))
	wantWrite := ovhProgress{Comment: "Writing image to /dev/vda", Status: "doing", BytesDone: 3000, BytesTotal: 4000}
	if st.ElapsedTime != 10 || st.Progress[slices.Index(boot.Steps(), boot.StepWrite)] != wantWrite {
		t.Errorf("install/status = %+v, want 10 s elapsed and write step %+v", st, wantWrite)
	}
	for _, bad := range []string{`{"step":"nope","status":"doing"}`, `{"step":"write","status":"running"}`,
		`{"step":"write","status":"doing","bytesDone":-1}`, `{"step":"write","status":"doing","extra":1}`, `not json`} {
		agentDo(t, e, tok, agentapi.PathProgress, bad, 400)
	}
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"write","status":"done","bytesDone":4000,"bytesTotal":4000}`, 204)

	e.advance(50 * time.Second)
	agentDo(t, e, tok, agentapi.PathDone, `{"bootMode":"local","efiBootloaderPath":"\\efi\\boot\\bootx64.efi","disk":"/dev/vda"}`, 204)
	task, _ = e.st.Task(ctx, task.ID)
	if task.Status != boot.StatusDone || !task.DoneDate.Equal(t0.Add(time.Minute)) {
		t.Errorf("task after done = %s at %v, want done at %v", task.Status, task.DoneDate, t0.Add(time.Minute))
	}
	m, _ := e.st.Machine(ctx, "web-1")
	if m.BootMode != boot.BootModeLocal || m.EFIBootloaderPath != `\efi\debian\grubx64.efi` {
		t.Errorf("machine after done = %q %q, want local with the spec's EFI path", m.BootMode, m.EFIBootloaderPath)
	}
	agentDo(t, e, tok, agentapi.PathDone, `{"bootMode":"local"}`, 401)
	if got := decode[byoiStatus](t, e.api("GET", "/1.0/dedicated/server/web-1/bringYourOwnImage", "", 200)); got.Status != "done" {
		t.Errorf("GET bringYourOwnImage after done = %+v, want done", got)
	}

	metrics := e.api("GET", "/metrics", "", 200).Body.String()
	for _, want := range []string{
		`byoi_tasks{status="done"} 1`,
		`byoi_install_written_bytes_total 4000`,
		`byoi_install_duration_seconds_count{status="done"} 1`,
		`byoi_install_duration_seconds_sum{status="done"} 60`,
		`byoi_http_requests_total{code="204",method="POST",route="/agent/v1/progress"} 3`,
		`byoi_http_requests_total{code="200",method="GET",route="/1.0/dedicated/server/{serviceName}/install/status"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestAgentFailureKeepsBootMode(t *testing.T) {
	tests := []struct {
		class string
		want  boot.Status
	}{
		{agentapi.ClassCustomer, boot.StatusCustomerError},
		{agentapi.ClassInternal, boot.StatusOVHError},
	}
	for _, tc := range tests {
		t.Run(tc.class, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			tok := bootInstaller(t, e, "web-1", "52:54:00:00:00:01", validReinstall)
			agentDo(t, e, tok, agentapi.PathTask, "", 200)
			agentDo(t, e, tok, agentapi.PathError, `{"step":"check","class":"bogus","message":"x"}`, 400)
			msg := "Bad sha512 for downloaded file, got: 00 while expecting 11."
			agentDo(t, e, tok, agentapi.PathError, `{"step":"check","class":"`+tc.class+`","message":"`+msg+`"}`, 204)
			task, _ := e.st.Tasks(ctx, "web-1")
			if task[0].Status != tc.want || task[0].Message != msg || task[0].Step(boot.StepCheck).Error != msg {
				t.Errorf("task after error = %s %q, want %s with the message on the check step", task[0].Status, task[0].Message, tc.want)
			}
			if m, _ := e.st.Machine(ctx, "web-1"); m.BootMode != boot.BootModeNone {
				t.Errorf("boot mode after a failed install = %q, want unchanged", m.BootMode)
			}
			st := decode[ovhInstallStatus](t, e.api("GET", "/1.0/dedicated/server/web-1/install/status", "", 200))
			if st.Progress[1].Status != "error" || st.Progress[1].Error == nil || *st.Progress[1].Error != msg {
				t.Errorf("install/status check step = %+v, want error %q", st.Progress[1], msg)
			}
			if got := decode[byoiStatus](t, e.api("GET", "/1.0/dedicated/server/web-1/bringYourOwnImage", "", 200)); got.Status != "error" || got.Message != msg {
				t.Errorf("GET bringYourOwnImage = %+v, want error %q", got, msg)
			}
		})
	}
}

// TestRestart: a task doing when the server stopped continues when the
// installer reports to the new server.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tok := bootInstaller(t, e, "web-1", "52:54:00:00:00:01", validReinstall)
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"download","status":"doing","bytesDone":10}`, 204)
	e.restart()
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"download","status":"done","bytesDone":20,"bytesTotal":20}`, 204)
	got := decode[agentapi.Task](t, agentDo(t, e, tok, agentapi.PathTask, "", 200))
	if got.Machine != "web-1" {
		t.Errorf("task after restart = %+v", got)
	}
	agentDo(t, e, tok, agentapi.PathDone, `{"bootMode":"local"}`, 204)
	task, _ := e.st.Tasks(ctx, "web-1")
	if task[0].Status != boot.StatusDone || !task[0].StartDate.Equal(t0) || task[0].Step(boot.StepDownload).BytesDone != 20 {
		t.Errorf("task after restart = %+v, want done, started before the restart", task[0])
	}
}

func TestCancelEndsToken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tok := bootInstaller(t, e, "web-1", "52:54:00:00:00:01", validReinstall)
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	task, _ := e.st.ActiveTask(ctx, "web-1")
	got := decode[boot.Task](t, e.api("POST", "/api/v1/tasks/"+itoa(task.ID)+"/cancel", "", 200))
	if got.Status != boot.StatusCancelled || got.Message != "Cancelled by an operator" {
		t.Errorf("cancel = %s %q, want cancelled, %q (no credential ID)", got.Status, got.Message, "Cancelled by an operator")
	}
	e.api("POST", "/api/v1/tasks/"+itoa(task.ID)+"/cancel", "", 409)
	agentDo(t, e, tok, agentapi.PathProgress, `{"step":"download","status":"doing"}`, 401)
	if script := e.do("GET", "/ipxe/machine?mac=52:54:00:00:00:01&platform=efi&buildarch=x86_64", "", "").Body.String(); strings.Contains(script, "vmlinuz") {
		t.Errorf("script after cancel still boots the installer:\n%s", script)
	}
}

// TestAgentTaskNetwork: the installer learns how the machine's boot NIC is
// configured, for network_data.json: its fixed address when byoi's DHCP
// hands it out in full mode, DHCP otherwise.
func TestAgentTaskNetwork(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Network = BootNetwork{FullDHCP: true, Prefix: 24, Router: "198.51.100.1", DNS: []string{"198.51.100.53"}}
	})
	e.addMachine(boot.Machine{Name: "fixed", MACs: []string{"52:54:00:00:00:0a"}, IPv4: "198.51.100.10"})
	e.api("POST", "/1.0/dedicated/server/fixed/reinstall", validReinstall, 200)
	tok := scriptToken(t, e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac=52:54:00:00:00:0a", "", "").Body.String())
	got := decode[agentapi.Task](t, agentDo(t, e, tok, agentapi.PathTask, "", 200)).Network
	want := &agentapi.Network{MAC: "52:54:00:00:00:0a", Mode: agentapi.NetworkStatic, Address: "198.51.100.10", Prefix: 24, Gateway: "198.51.100.1", DNS: []string{"198.51.100.53"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("task network (-want +got):\n%s", diff)
	}
	dyn := bootInstaller(t, e, "dyn", "52:54:00:00:00:0b", validReinstall)
	if got := decode[agentapi.Task](t, agentDo(t, e, dyn, agentapi.PathTask, "", 200)).Network; got == nil || got.Mode != agentapi.NetworkDHCP || got.MAC != "52:54:00:00:00:0b" {
		t.Errorf("task network without a fixed address = %+v, want DHCP on its MAC", got)
	}
}
