package http

import (
	"bytes"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	"github.com/byoi/byoi/server/lifecycle"
)

// TestInstallerTokenScope: an installer token is bound to one task. A new
// boot of the same task replaces it; it opens nothing but the agent API;
// the operator's credentials do not open the agent API; and only its hash
// reaches the store file.
func TestInstallerTokenScope(t *testing.T) {
	e, se := newSecureEnv(t)
	var seen []exchange
	bootScript := func(mac string) string {
		w := se.send(newGET("/ipxe/machine?platform=efi&buildarch=x86_64&mac="+mac), &seen)
		return scriptToken(t, w.Body.String())
	}
	for _, n := range []string{"a", "b"} {
		mac := "52:54:00:00:00:0" + n
		e.addMachine(boot.Machine{Name: n, MACs: []string{mac}})
		wantStatus(t, se.bearer("POST", "/1.0/dedicated/server/"+n+"/reinstall", validReinstall, &seen), "reinstall "+n, 200)
	}
	first := bootScript("52:54:00:00:00:0a")
	tokA := bootScript("52:54:00:00:00:0a") // the machine rebooted: a new token
	tokB := bootScript("52:54:00:00:00:0b")
	if first == tokA {
		t.Fatalf("two boots of a got the same token %q", first)
	}
	if w := se.agentCall(first, agentapi.PathTask, "", &seen); w.Code != 401 {
		t.Errorf("GET task with a's replaced token = %d, want 401", w.Code)
	}
	for tok, want := range map[string]string{tokA: "a", tokB: "b"} {
		got := decode[agentapi.Task](t, se.agentCall(tok, agentapi.PathTask, "", &seen))
		if got.Machine != want {
			t.Errorf("task read with %s's token = machine %q, want %q", want, got.Machine, want)
		}
	}
	// An installer token is not an operator credential, and the operator's
	// token is not an installer's.
	for _, p := range []string{"/api/v1/machines", "/api/v1/tasks/2", "/1.0/dedicated/server/b/task", "/metrics"} {
		w := se.send(withBearer(newGET(p), tokA), &seen)
		if w.Code != 401 && w.Code != 403 {
			t.Errorf("GET %s with an installer token = %d, want 401 or 403", p, w.Code)
		}
	}
	if w := se.agentCall(se.token.Token, agentapi.PathTask, "", &seen); w.Code != 401 {
		t.Errorf("GET agent task with the admin token = %d, want 401", w.Code)
	}
	// b's token reports for b only, and ends with b's task.
	wantStatus(t, se.agentCall(tokB, agentapi.PathDone, `{"disk":"/dev/vda"}`, &seen), "b done", 204)
	for _, p := range []string{agentapi.PathTask, agentapi.PathProgress, agentapi.PathDone, agentapi.PathError} {
		if w := se.agentCall(tokB, p, `{"step":"download","status":"doing"}`, &seen); w.Code != 401 {
			t.Errorf("%s with b's token after b's end = %d, want 401", p, w.Code)
		}
	}
	if ta, err := e.st.ActiveTask(t.Context(), "a"); err != nil || !ta.Status.Active() {
		t.Errorf("a's task after b's end = %+v, %v; want still active", ta.Status, err)
	}
	checkNoSecrets(t, se, seen, map[string]string{"a": tokA, "b": tokB, "a (first)": first}, nil, 15)
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"a's first token": first, "a's token": tokA, "b's token": tokB, "admin token": se.token.Token} {
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the store file holds %s in clear", name)
		}
	}
	if !bytes.Contains(db, []byte(lifecycle.HashToken(tokA))) {
		t.Errorf("the store file lacks the hash of a's token: is this the right file?")
	}
}

func newGET(target string) *nethttp.Request { return httptest.NewRequest("GET", target, nil) }

func withBearer(r *nethttp.Request, token string) *nethttp.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
