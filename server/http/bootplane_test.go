package http

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
)

const scriptQuery = "/ipxe/machine?mac=52-54-00-00-00-01&platform=efi&buildarch=x86_64&uuid=8c5f7a1e-0000-4000-8000-000000000001"

var tokenRE = regexp.MustCompile(agentapi.ParamToken + `=([A-Za-z0-9_-]+)`)

// scriptToken pulls the one-time token out of an installer script.
func scriptToken(t *testing.T, script string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("installer script has no %s=…:\n%s", agentapi.ParamToken, script)
	}
	return m[1]
}

func TestBootstrapScript(t *testing.T) {
	e := newEnv(t)
	w := e.do("GET", "/boot.ipxe", "", "")
	body := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(body, "#!ipxe") || !strings.Contains(body, "http://198.51.100.1:8080/ipxe/machine") {
		t.Errorf("GET /boot.ipxe = %d\n%s\nwant an iPXE script chaining to the per-machine URL", w.Code, body)
	}
}

func TestMachineScript(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	// Unknown MAC: recorded as discovered, told to exit.
	w := e.do("GET", scriptQuery, "", "")
	if w.Code != 200 || !strings.HasPrefix(w.Body.String(), "#!ipxe") || !strings.Contains(w.Body.String(), "exit") {
		t.Fatalf("script for unknown MAC = %d\n%s\nwant an exit script", w.Code, w.Body.String())
	}
	d, err := e.st.MachineByMAC(ctx, "52:54:00:00:00:01")
	if err != nil || !d.Discovered || d.Name != "discovered-525400000001" || d.LastClient != "efi/x86_64 uuid 8c5f7a1e-0000-4000-8000-000000000001" {
		t.Fatalf("discovered machine = %+v, %v", d, err)
	}
	if es, _ := e.st.Events(ctx, d.Name, 0); len(es) == 0 || es[0].Kind != boot.EventDiscovered {
		t.Errorf("events of discovered machine = %+v, want a discovered event first", es)
	}

	// Adopted, with a pending task: the installer with a fresh token.
	e.api("PUT", "/api/v1/machines/"+d.Name, `{"serviceName":"web-1","macs":["52:54:00:00:00:01"]}`, 200)
	e.api("POST", "/1.0/dedicated/server/web-1/reinstall", validReinstall, 200)
	script := e.do("GET", scriptQuery, "", "").Body.String()
	for _, want := range []string{"http://198.51.100.1:8080/files/vmlinuz", "http://198.51.100.1:8080/files/initrd.img", "console=ttyS0", agentapi.ParamServer + "="} {
		if !strings.Contains(script, want) {
			t.Errorf("installer script lacks %q:\n%s", want, script)
		}
	}
	tok1 := scriptToken(t, script)
	task, _ := e.st.ActiveTask(ctx, "web-1")
	if task.TokenHash != lifecycle.HashToken(tok1) || strings.Contains(task.TokenHash, tok1) {
		t.Errorf("stored token hash = %q, want sha256 of the handed-out token", task.TokenHash)
	}
	// Each installer boot gets a new token; the old one stops working.
	tok2 := scriptToken(t, e.do("GET", scriptQuery, "", "").Body.String())
	if tok1 == tok2 {
		t.Fatalf("two installer boots got the same token")
	}
	if w := e.do("GET", agentapi.PathTask, "Bearer "+tok1, ""); w.Code != 401 {
		t.Errorf("old token after a new boot = %d, want 401", w.Code)
	}
	if w := e.do("GET", agentapi.PathTask, "Bearer "+tok2, ""); w.Code != 200 {
		t.Errorf("new token = %d %s, want 200", w.Code, w.Body.String())
	}
	// Installed: local boot from the EFI path.
	agentDo(t, e, tok2, agentapi.PathDone, `{"bootMode":"local","efiBootloaderPath":"\\efi\\debian\\grubx64.efi"}`, 204)
	script = e.do("GET", scriptQuery, "", "").Body.String()
	if !strings.Contains(script, "sanboot") || !strings.Contains(script, "grubx64.efi") || strings.Contains(script, "vmlinuz") {
		t.Errorf("script for installed machine:\n%s\nwant sanboot of grubx64.efi", script)
	}
	bios := e.do("GET", "/ipxe/machine?mac=52:54:00:00:00:01&platform=pcbios&buildarch=i386", "", "").Body.String()
	if !strings.Contains(bios, "0x80") {
		t.Errorf("BIOS script for installed machine:\n%s\nwant sanboot --drive 0x80", bios)
	}
	if w := e.do("GET", "/ipxe/machine?mac=zz", "", ""); w.Code != 400 {
		t.Errorf("script for a bad MAC = %d, want 400", w.Code)
	}
}

func TestFiles(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.files, "ipxe.efi"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(e.files), "secret.txt")
	os.WriteFile(outside, []byte("nope"), 0o644)
	os.Symlink(outside, filepath.Join(e.files, "link"))
	os.Mkdir(filepath.Join(e.files, "sub"), 0o755)

	w := e.do("GET", "/files/ipxe.efi", "", "")
	if w.Code != 200 || w.Body.String() != "0123456789" {
		t.Errorf("GET /files/ipxe.efi = %d %q", w.Code, w.Body.String())
	}
	req := httptest.NewRequest("GET", "/files/ipxe.efi", nil)
	req.Header.Set("Range", "bytes=2-4")
	rw := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rw, req)
	if rw.Code != 206 || rw.Body.String() != "234" {
		t.Errorf("GET /files/ipxe.efi Range 2-4 = %d %q, want 206 \"234\"", rw.Code, rw.Body.String())
	}
	if w := e.do("HEAD", "/files/ipxe.efi", "", ""); w.Code != 200 || w.Header().Get("Content-Length") != "10" {
		t.Errorf("HEAD /files/ipxe.efi = %d length %q, want 200 10", w.Code, w.Header().Get("Content-Length"))
	}
	for _, p := range []string{"/files/link", "/files/sub", "/files/..%2fsecret.txt", "/files/.hidden", "/files/missing", "/files/sub/../../secret.txt"} {
		if w := e.do("GET", p, "", ""); w.Code == 200 || strings.Contains(w.Body.String(), "nope") {
			t.Errorf("GET %s = %d %q, want refused", p, w.Code, w.Body.String())
		}
	}
}

func TestTokenOfOtherMachineAndEndedTask(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "a", MACs: []string{"52:54:00:00:00:0a"}})
	e.addMachine(boot.Machine{Name: "b", MACs: []string{"52:54:00:00:00:0b"}})
	for _, m := range []string{"a", "b"} {
		e.api("POST", "/1.0/dedicated/server/"+m+"/reinstall", validReinstall, 200)
	}
	tokA := scriptToken(t, e.do("GET", "/ipxe/machine?mac=52:54:00:00:00:0a&platform=efi&buildarch=x86_64", "", "").Body.String())
	got := decode[agentapi.Task](t, agentDo(t, e, tokA, agentapi.PathTask, "", 200))
	if got.Machine != "a" {
		t.Errorf("task read with a's token = machine %q, want a", got.Machine)
	}
	// a's token moves only a's task.
	agentDo(t, e, tokA, agentapi.PathError, `{"step":"download","class":"customer","message":"Could not download image: 404"}`, 204)
	tb, _ := e.st.ActiveTask(ctx, "b")
	if tb.Status != boot.StatusTodo {
		t.Errorf("b's task after a's failure = %s, want todo", tb.Status)
	}
	// The task ended: its token is refused everywhere.
	for _, p := range []string{agentapi.PathTask, agentapi.PathProgress, agentapi.PathDone, agentapi.PathError} {
		if w := agentReq(e, tokA, p, `{}`); w.Code != 401 {
			t.Errorf("%s with the token of an ended task = %d, want 401", p, w.Code)
		}
	}
	for _, auth := range []string{"", "Bearer ", "Bearer wrong", "Basic " + tokA, tokA} {
		w := e.do("GET", agentapi.PathTask, auth, "")
		if w.Code != 401 {
			t.Errorf("GET task with Authorization %q = %d, want 401", auth, w.Code)
		}
	}
}

// TestInstallScriptLayers: a BYOLinux installer loads the tools layer after
// initrd.img (its mdadm, mkfs and modules); a BYOI installer loads
// initrd.img alone.
func TestInstallScriptLayers(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string // initrd lines, in order
	}{
		{"byoi_64", validReinstall, []string{"initrd http://198.51.100.1:8080/files/initrd.img"}},
		{"byolinux_64", `{"operatingSystem":"byolinux_64","customizations":{"imageURL":"https://img.example/debian.qcow2"}}`,
			[]string{"initrd http://198.51.100.1:8080/files/initrd.img", "initrd http://198.51.100.1:8080/files/tools.img"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.api("POST", "/api/v1/machines", `{"serviceName":"web-1","macs":["52:54:00:00:00:01"]}`, 201)
			e.api("POST", "/1.0/dedicated/server/web-1/reinstall", tt.body, 200)
			script := e.do("GET", scriptQuery, "", "").Body.String()
			var got []string
			for _, l := range strings.Split(script, "\n") {
				if strings.HasPrefix(l, "initrd ") {
					got = append(got, strings.TrimSuffix(l, " || goto byoi_failed"))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("initrd lines of the %s installer script (-want +got):\n%s\n%s", tt.name, diff, script)
			}
		})
	}
}
