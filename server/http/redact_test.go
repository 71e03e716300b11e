package http

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
)

// TestRedaction plants secrets in httpHeaders and configDriveUserData
// through every install route, walks every reading route, and checks that
// no response body (the installer's own task fetch aside) and no log line
// holds them.
func TestRedaction(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "c"} {
		e.addMachine(boot.Machine{Name: n, MACs: []string{"52:54:00:00:00:0" + n}})
	}
	userData := strings.ReplaceAll(canaryUserData, "\n", `\n`)
	e.api("POST", "/1.0/dedicated/server/a/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://i/a.raw","imageType":"raw",
		"httpHeaders":{"Authorization":"`+canaryHeader+`"},"configDriveUserData":"`+userData+`"}}`, 200)
	e.api("POST", "/1.0/dedicated/server/b/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageURL","value":"http://i/b.raw"},
		{"key":"imageType","value":"raw"},{"key":"httpHeaders0Key","value":"Authorization"},{"key":"httpHeaders0Value","value":"`+canaryHeader+`"},
		{"key":"configDriveUserData","value":"`+userData+`"}]}`, 200)
	e.api("POST", "/1.0/dedicated/server/c/bringYourOwnImage", `{"URL":"http://i/c.raw","type":"raw","httpHeader":[{"key":"Authorization","value":"`+canaryHeader+`"}],
		"configdrive":{"enable":true,"userData":"`+userData+`"}}`, 200)
	// A rejected request echoing a secret must not echo it back either.
	e.do("POST", "/1.0/dedicated/server/a/reinstall", "Bearer good", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://i/a.raw","imageType":"raw","httpHeaders":{"Authorization":"`+canaryHeader+`"}}}`)
	e.do("POST", "/api/v1/machines/a/tasks", "Bearer good", `{"imageURL":"http://i/a.raw","imageType":"raw","httpHeaders":{"Authorization":"`+canaryHeader+`"},"configDriveUserData":"`+userData+`","bogus":1}`)

	// The installer of a gets the secrets: that one answer is not checked.
	tok := scriptToken(t, e.do("GET", "/ipxe/machine?mac=52:54:00:00:00:0a&platform=efi&buildarch=x86_64", "", "").Body.String())
	req := httptest.NewRequest("GET", agentapi.PathTask, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rw := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rw, req)
	if !strings.Contains(rw.Body.String(), canaryHeader) {
		t.Fatalf("agent task lacks the header secret: %s", rw.Body.String())
	}
	agentDo(t, e, tok, agentapi.PathError, `{"step":"download","class":"customer","message":"Could not download image: 401 Unauthorized"}`, 204)

	for _, n := range []string{"a", "b", "c"} {
		for _, p := range []string{"", "/task", "/task/1", "/task/2", "/task/3", "/install/status", "/bringYourOwnImage"} {
			e.do("GET", "/1.0/dedicated/server/"+n+p, "Bearer good", "")
		}
		e.api("GET", "/api/v1/machines/"+n, "", 200)
		e.api("GET", "/api/v1/machines/"+n+"/tasks", "", 200)
	}
	for _, p := range []string{"/api/v1/tasks/1", "/api/v1/tasks/2", "/api/v1/tasks/3", "/api/v1/machines", "/1.0/dedicated/server", "/metrics"} {
		e.do("GET", p, "Bearer good", "")
	}
	tasks := decode[[]boot.Task](t, e.api("GET", "/api/v1/machines/b/tasks", "", 200))
	if tasks[0].Spec.HTTPHeaders["Authorization"] != boot.RedactedValue || tasks[0].Spec.ConfigDriveUserData != boot.RedactedValue || tasks[0].TokenHash != "" {
		t.Errorf("listed task spec = %+v token %q, want redacted values and no token hash", tasks[0].Spec, tasks[0].TokenHash)
	}
	e.api("POST", "/api/v1/tasks/2/cancel", "", 200)

	secrets := []string{canaryHeader, "CANARY-userdata-secret", "Q0FOQVJZ", tok, lifecycle.HashToken(tok)}
	for i, body := range e.bodies {
		check := secrets
		if strings.HasPrefix(body, "#!ipxe") {
			check = secrets[:3] // the installer script is where the token is handed out
		}
		for _, s := range check {
			if strings.Contains(body, s) {
				t.Errorf("response %d holds secret %q:\n%s", i, s, body)
			}
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "task created") {
		t.Fatalf("log capture is empty or broken:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs hold secret %q", s)
		}
	}
}
