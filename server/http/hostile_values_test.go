package http

import (
	"context"
	"encoding/json"
	nethttp "net/http"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/byoi/byoi/boot/agentapi"
	bolt "go.etcd.io/bbolt"
)

// badEFIPath is a path iPXE would expand: it must never be stored, since a
// stored value used to turn every later boot of the machine into a 500.
const badEFIPath = `\efi\${net0/mac}\grubx64.efi`

func jsonString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestEFIPathRefusedEverywhere sends an efiBootloaderPath with "${" to every
// route that stores one: each answers 400 and stores nothing, and the
// machine still boots.
func TestEFIPathRefusedEverywhere(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	p := jsonString(badEFIPath)
	routes := []struct{ method, path, body string }{
		{"POST", "/api/v1/machines", `{"serviceName":"web-9","efiBootloaderPath":` + p + `}`},
		{"PUT", "/api/v1/machines/web-1", `{"macs":["52:54:00:00:00:01"],"efiBootloaderPath":` + p + `}`},
		{"PUT", "/1.0/dedicated/server/web-1", `{"efiBootloaderPath":` + p + `}`},
		{"POST", "/1.0/dedicated/server/web-1/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://img/a.raw","imageType":"raw","efiBootloaderPath":` + p + `}}`},
		{"POST", "/1.0/dedicated/server/web-1/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageURL","value":"http://img/a.raw"},{"key":"imageType","value":"raw"},{"key":"efiBootloaderPath","value":` + p + `}]}`},
		{"POST", "/api/v1/machines/web-1/tasks", `{"imageURL":"http://img/a.raw","imageType":"raw","efiBootloaderPath":` + p + `}`},
	}
	for _, rt := range routes {
		if w := e.do(rt.method, rt.path, "Bearer good", rt.body); w.Code != nethttp.StatusBadRequest {
			t.Errorf("%s %s with efiBootloaderPath %s = %d %s, want 400", rt.method, rt.path, badEFIPath, w.Code, w.Body.String())
		}
	}
	if m, _ := e.st.Machine(context.Background(), "web-1"); m.EFIBootloaderPath != "" {
		t.Errorf("machine efiBootloaderPath after refused requests = %q, want none", m.EFIBootloaderPath)
	}
	if ts, _ := e.st.Tasks(context.Background(), "web-1"); len(ts) != 0 {
		t.Errorf("tasks after refused requests = %d, want none", len(ts))
	}

	// The installer's own done report is checked by the same rule.
	tok := bootInstaller(t, e, "web-2", "52:54:00:00:00:02", validReinstall)
	agentDo(t, e, tok, agentapi.PathTask, "", 200)
	agentDo(t, e, tok, agentapi.PathDone, `{"bootMode":"local","efiBootloaderPath":`+p+`}`, 400)
	if ts, _ := e.st.Tasks(context.Background(), "web-2"); ts[0].Status != boot.StatusDoing {
		t.Errorf("task after a refused done report = %s, want still doing", ts[0].Status)
	}
	agentDo(t, e, tok, agentapi.PathDone, `{"bootMode":"local","efiBootloaderPath":"\\efi\\debian\\grubx64.efi"}`, 204)
}

// TestStoredBadEFIPathStillBoots: a value the rule refuses, already in the
// store (written by an older byoi), never makes /ipxe/machine fail: the
// machine boots the default path and its history says why.
func TestStoredBadEFIPathStillBoots(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}, BootMode: boot.BootModeLocal})
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(e.path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("machines"))
		var m map[string]any
		if err := json.Unmarshal(b.Get([]byte("web-1")), &m); err != nil {
			return err
		}
		m["efiBootloaderPath"] = badEFIPath
		raw, _ := json.Marshal(m)
		return b.Put([]byte("web-1"), raw)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	e.open()
	w := e.do("GET", "/ipxe/machine?platform=efi&buildarch=x86_64&mac=52:54:00:00:00:01", "", "")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, "sanboot") || strings.Contains(body, "net0/mac") || !strings.Contains(strings.ToUpper(body), `\EFI\BOOT\BOOTX64.EFI`) {
		t.Fatalf("GET /ipxe/machine with a stored bad path = %d:\n%s\nwant a local boot of the default path", w.Code, body)
	}
	es, _ := e.st.Events(context.Background(), "web-1", 0)
	found := false
	for _, ev := range es {
		found = found || strings.Contains(ev.Message, "booting the default path")
	}
	if !found {
		t.Errorf("events %+v, want one saying the stored path was replaced by the default", es)
	}
}

// TestRefusedValuesNotEchoed sends megabyte values in every field that is
// validated: the answers quote at most a short prefix.
func TestRefusedValuesNotEchoed(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	huge := strings.Repeat("x", 1<<20-4096)
	hq := jsonString(huge)
	bodies := []struct{ method, path, body string }{
		{"POST", "/api/v1/machines", `{"serviceName":` + hq + `}`},
		{"POST", "/api/v1/machines", `{"serviceName":"a","macs":[` + hq + `]}`},
		{"POST", "/api/v1/machines", `{"serviceName":"a","ipv4":` + hq + `}`},
		{"POST", "/api/v1/machines", `{"serviceName":"a","bootMode":` + hq + `}`},
		{"POST", "/api/v1/machines", `{"serviceName":"a","efiBootloaderPath":` + hq + `}`},
		{"PUT", "/1.0/dedicated/server/web-1", `{"efiBootloaderPath":"\\` + huge + `"}`},
		{"POST", "/1.0/dedicated/server/web-1/reinstall", `{"operatingSystem":` + hq + `}`},
		{"POST", "/1.0/dedicated/server/web-1/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://img/a.raw","imageType":"raw","hostname":` + hq + `}}`},
		{"POST", "/1.0/dedicated/server/web-1/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":` + jsonString("ftp://"+huge) + `,"imageType":"raw"}}`},
		{"POST", "/1.0/dedicated/server/web-1/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://img/a.raw","imageType":"raw","imageCheckSum":"00","imageCheckSumType":` + hq + `}}`},
		{"POST", "/1.0/dedicated/server/web-1/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://img/a.raw","imageType":"raw","httpHeaders":{` + hq + `:"v"}}}`},
		{"POST", "/1.0/dedicated/server/web-1/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://img/a.raw","imageType":"raw","configDriveMetadata":{` + hq + `:"v"}}}`},
		{"POST", "/1.0/dedicated/server/web-1/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":` + hq + `,"value":"x"}]}`},
		{"GET", "/api/v1/tasks/" + strings.Repeat("9", 4000), ""},
		{"GET", "/1.0/dedicated/server/" + strings.Repeat("n", 4000), ""},
		{"GET", "/api/v1/machines/" + strings.Repeat("n", 4000), ""},
		{"DELETE", "/api/v1/machines/" + strings.Repeat("n", 4000), ""},
		{"PUT", "/api/v1/machines/" + strings.Repeat("n", 4000), `{"macs":[]}`},
		{"GET", "/api/v1/machines/" + strings.Repeat("n", 4000) + "/tasks", ""},
		{"GET", "/ipxe/machine?mac=" + strings.Repeat("m", 4000), ""},
	}
	for i, b := range bodies {
		w := e.do(b.method, b.path, "Bearer good", b.body)
		if w.Code < 400 || w.Code >= 500 {
			t.Errorf("case %d: %s %s = %d, want a 4xx", i, b.method, b.path[:min(len(b.path), 40)], w.Code)
		}
		if n := w.Body.Len(); n > 512 {
			t.Errorf("case %d: %s %s answered %d bytes: %.300s…, want a short message", i, b.method, b.path[:min(len(b.path), 40)], n, w.Body.String())
		}
	}
}
