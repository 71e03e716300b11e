package http

import (
	"context"
	"fmt"
	nethttp "net/http"
	"strconv"
	"testing"
	"time"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func TestAuthTime(t *testing.T) {
	e := newEnv(t)
	w := e.do("GET", "/1.0/auth/time", "", "")
	if w.Code != 200 || w.Body.String() != strconv.FormatInt(t0.Unix(), 10)+"\n" {
		t.Errorf("GET /1.0/auth/time = %d %q, want 200 %d", w.Code, w.Body.String(), t0.Unix())
	}
}

func TestOVHValidationMessages(t *testing.T) {
	const srv = "/1.0/dedicated/server/web-1"
	tests := []struct {
		name, path, body string
		want             int
		msg              string
	}{
		{"reinstall no operatingSystem", "/reinstall", `{"customizations":{"imageURL":"http://a/b","imageType":"raw"}}`, 400, "Missing parameter: operatingSystem"},
		{"reinstall wrong operatingSystem", "/reinstall", `{"operatingSystem":"debian12_64"}`, 400, `Invalid operatingSystem "debian12_64": expected byoi_64 or byolinux_64`},
		{"reinstall no customizations", "/reinstall", `{"operatingSystem":"byoi_64"}`, 400, "Missing parameter: imageURL"},
		{"reinstall no imageType", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b"}}`, 400, "Missing parameter: imageType"},
		{"reinstall bad imageType", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"vmdk"}}`, 400, "Bad format image, expected: qcow2, raw."},
		{"reinstall ftp URL", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"ftp://a/b","imageType":"raw"}}`, 400, `Invalid imageURL "ftp://a/b": an http:// or https:// URL is expected`},
		{"reinstall checksum alone", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"raw","imageCheckSum":"abcd"}}`, 400, "Please provide checkSum AND checkSumType or none of them"},
		{"reinstall checksum type alone", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"raw","imageCheckSumType":"md5"}}`, 400, "Please provide checkSum AND checkSumType or none of them"},
		{"reinstall user data not base64", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"raw","configDriveUserData":"not base64!"}}`, 400, "Invalid configDriveUserData: not valid base64, and not a cloud-init document in clear (#cloud-config, #!…, MIME multipart)"},
		{"reinstall bad checksum type", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"raw","imageCheckSum":"ab","imageCheckSumType":"crc32"}}`, 400, `Bad checkSumType "crc32", expected: md5, sha1, sha256, sha512.`},
		{"reinstall short md5", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"raw","imageCheckSum":"ab","imageCheckSumType":"md5"}}`, 400, "Bad checkSum for checkSumType md5: expected 32 hexadecimal characters"},
		{"reinstall header with newline", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"raw","httpHeaders":{"X":"a\nb"}}}`, 400, `Invalid httpHeaders value for "X": at most 8192 bytes, no line breaks`},
		{"reinstall bad efi path", "/reinstall", `{"operatingSystem":"byoi_64","customizations":{"imageURL":"http://a/b","imageType":"raw","efiBootloaderPath":"\\efi\\..\\x.efi"}}`, 400, `invalid efiBootloaderPath "\\efi\\..\\x.efi": no . or .. components`},
		{"reinstall byolinux raw", "/reinstall", `{"operatingSystem":"byolinux_64","customizations":{"imageURL":"http://a/b","imageType":"raw"}}`, 400, "Bad format image, expected: qcow2. (byolinux_64 images hold one file system in a qcow2; imageType raw is not supported)"},
		{"reinstall byolinux two rest entries", "/reinstall", `{"operatingSystem":"byolinux_64","customizations":{"imageURL":"http://a/b"},"storage":[{"diskGroupId":1,"partitioning":{"layout":[{"mountPoint":"/","fileSystem":"ext4","size":0},{"mountPoint":"/home","fileSystem":"ext4","size":0}]}}]}`, 400, "Only one layout entry may have size 0 (the rest of the disks): /, /home all do"},
		{"reinstall bad JSON", "/reinstall", `{"operatingSystem":`, 400, "Invalid JSON body: truncated JSON"},
		{"reinstall wrong type", "/reinstall", `{"operatingSystem":42}`, 400, "Invalid JSON body: field operatingSystem must be a string, not a JSON number"},
		{"reinstall empty body", "/reinstall", ``, 400, "Invalid JSON body: empty body"},
		{"install/start no template", "/install/start", `{"userMetadata":[]}`, 400, "Missing parameter: templateName"},
		{"install/start no imageURL", "/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageType","value":"raw"}]}`, 400, "Missing parameter: imageURL"},
		{"install/start unknown key", "/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageUrl","value":"http://a/b"}]}`, 400, `Unknown userMetadata key "imageUrl"`},
		{"install/start key twice", "/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageType","value":"raw"},{"key":"imageType","value":"qcow2"}]}`, 400, `userMetadata key "imageType" is given twice`},
		{"install/start header key alone", "/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"imageURL","value":"http://a/b"},{"key":"imageType","value":"raw"},{"key":"httpHeaders0Key","value":"Authorization"}]}`, 400, "httpHeaders0Key and httpHeaders0Value must be given together"},
		{"install/start bad metadata", "/install/start", `{"templateName":"byoi_64","userMetadata":[{"key":"configDriveMetadata","value":"nope"}]}`, 400, "Invalid userMetadata configDriveMetadata: a JSON object of strings is expected"},
		{"byoi no URL", "/bringYourOwnImage", `{"type":"raw"}`, 400, "Missing parameter: URL"},
		{"byoi no type", "/bringYourOwnImage", `{"URL":"http://a/b"}`, 400, "Missing parameter: type"},
		{"byoi ova", "/bringYourOwnImage", `{"URL":"http://a/b","type":"ova"}`, 400, "Bad format image, expected: qcow2, raw."},
		{"byoi checksum alone", "/bringYourOwnImage", `{"URL":"http://a/b","type":"raw","checkSum":"00"}`, 400, "Please provide checkSum AND checkSumType or none of them"},
		{"byoi header list twice", "/bringYourOwnImage", `{"URL":"http://a/b","type":"raw","httpHeader":[{"key":"A","value":"1"},{"key":"A","value":"2"}]}`, 400, `Invalid JSON body: key "A" is given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.addMachine(boot.Machine{Name: "web-1"})
			w := e.do("POST", srv+tc.path, "Bearer good", tc.body)
			got := apiErr(t, w)
			want := apiError{Class: "Client::BadRequest", Message: tc.msg}
			if w.Code != tc.want || got != want {
				t.Errorf("POST %s %s = %d %+v, want %d %+v", tc.path, tc.body, w.Code, got, tc.want, want)
			}
			if ts, _ := e.st.Tasks(context.Background(), "web-1"); len(ts) != 0 {
				t.Errorf("a refused request stored %d tasks, want none", len(ts))
			}
		})
	}
}

func TestOVHUnknownMachine(t *testing.T) {
	e := newEnv(t)
	d, _, err := e.st.RecordBoot(context.Background(), "52:54:00:00:00:99", "efi/x86_64", t0, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nope", d.Name} {
		want := apiError{Class: "Client::NotFound", Message: fmt.Sprintf("The requested object (serviceName = %s) does not exist", name)}
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "", ""}, {"PUT", "", `{"efiBootloaderPath":"\\efi\\boot\\bootx64.efi"}`},
			{"POST", "/reinstall", validReinstall}, {"POST", "/install/start", `{"templateName":"byoi_64"}`},
			{"POST", "/bringYourOwnImage", `{"URL":"http://a/b","type":"raw"}`}, {"GET", "/bringYourOwnImage", ""},
			{"DELETE", "/bringYourOwnImage", ""}, {"GET", "/install/status", ""}, {"GET", "/task", ""}, {"GET", "/task/1", ""},
		} {
			w := e.do(rt.method, "/1.0/dedicated/server/"+name+rt.path, "Bearer good", rt.body)
			if got := apiErr(t, w); w.Code != 404 || got != want {
				t.Errorf("%s %s%s = %d %+v, want 404 %+v", rt.method, name, rt.path, w.Code, got, want)
			}
		}
	}
}

func TestOVHReinstallLifecycle(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1", MACs: []string{"52:54:00:00:00:01"}})
	e.addMachine(boot.Machine{Name: "web-2"})
	if got := decode[[]string](t, e.api("GET", "/1.0/dedicated/server", "", 200)); !cmp.Equal(got, []string{"web-1", "web-2"}) {
		t.Errorf("GET /dedicated/server = %v, want [web-1 web-2]", got)
	}
	w := e.api("POST", "/1.0/dedicated/server/web-1/reinstall", validReinstall, 200)
	task := decode[map[string]any](t, w)
	wantTask := map[string]any{
		"taskId": float64(1), "function": "reinstallServer", "comment": "Installing byoi_64", "status": "todo",
		"lastUpdate": "2025-06-01T12:00:00+00:00", "startDate": "2025-06-01T12:00:00+00:00", "doneDate": nil,
		"needSchedule": false, "note": nil, "plannedInterventionId": nil, "tags": nil, "ticketReference": nil,
	}
	if diff := cmp.Diff(wantTask, task); diff != "" {
		t.Errorf("POST reinstall task mismatch (-want +got):\n%s", diff)
	}
	w = e.do("POST", "/1.0/dedicated/server/web-1/reinstall", "Bearer good", validReinstall)
	if got := apiErr(t, w); w.Code != 409 || got.Message != "An installation is already in progress on server web-1 (task 1): cancel it or wait for it to end" {
		t.Errorf("second reinstall = %d %+v, want 409 with the active task", w.Code, got)
	}
	if w := e.do("POST", "/1.0/dedicated/server/web-1/bringYourOwnImage", "Bearer good", `{"URL":"http://a/b","type":"raw"}`); w.Code != 409 {
		t.Errorf("second install through bringYourOwnImage = %d, want 409", w.Code)
	}
	if got := decode[[]int64](t, e.api("GET", "/1.0/dedicated/server/web-1/task", "", 200)); !cmp.Equal(got, []int64{1}) {
		t.Errorf("GET task = %v, want [1]", got)
	}
	if got := decode[ovhTaskJSON](t, e.api("GET", "/1.0/dedicated/server/web-1/task/1", "", 200)); got.TaskID != 1 || got.Status != "todo" {
		t.Errorf("GET task/1 = %+v, want task 1 todo", got)
	}
	// A task of one machine is not visible under another.
	if w := e.do("GET", "/1.0/dedicated/server/web-2/task/1", "Bearer good", ""); w.Code != 404 || apiErr(t, w).Message != "The requested object (taskId = 1) does not exist" {
		t.Errorf("GET web-2/task/1 = %d %s, want 404", w.Code, w.Body.String())
	}
	if w := e.do("GET", "/1.0/dedicated/server/web-1/task/x", "Bearer good", ""); w.Code != 400 {
		t.Errorf("GET task/x = %d, want 400", w.Code)
	}
	st := decode[ovhInstallStatus](t, e.api("GET", "/1.0/dedicated/server/web-1/install/status", "", 200))
	if len(st.Progress) != len(boot.Steps()) || st.Progress[0] != (ovhProgress{Comment: "Downloading image", Status: "todo"}) {
		t.Errorf("install/status = %+v, want %d todo steps", st, len(boot.Steps()))
	}
	if got := decode[byoiStatus](t, e.api("GET", "/1.0/dedicated/server/web-1/bringYourOwnImage", "", 200)); got.Status != "doing" {
		t.Errorf("GET bringYourOwnImage = %+v, want doing", got)
	}
	e.api("DELETE", "/1.0/dedicated/server/web-1/bringYourOwnImage", "", 200)
	if w := e.do("GET", "/1.0/dedicated/server/web-1/bringYourOwnImage", "Bearer good", ""); w.Code != 404 {
		t.Errorf("GET bringYourOwnImage after DELETE = %d, want 404 (erased)", w.Code)
	}
	if got := decode[ovhTaskJSON](t, e.api("GET", "/1.0/dedicated/server/web-1/task/1", "", 200)); got.Status != "cancelled" || time.Time(got.DoneDate).IsZero() {
		t.Errorf("task after DELETE = %+v, want cancelled with a doneDate", got)
	}
	// Cancelled: a new install is accepted.
	e.api("POST", "/1.0/dedicated/server/web-1/bringYourOwnImage", `{"URL":"http://a/b","type":"raw"}`, 200)
	if w := e.do("GET", "/1.0/dedicated/server/web-2/install/status", "Bearer good", ""); w.Code != 404 || apiErr(t, w).Message != msgNotInstalling {
		t.Errorf("install/status without tasks = %d %s, want 404 %q", w.Code, w.Body.String(), msgNotInstalling)
	}
}

func TestOVHPutServer(t *testing.T) {
	e := newEnv(t)
	e.addMachine(boot.Machine{Name: "web-1"})
	e.api("PUT", "/1.0/dedicated/server/web-1", `{"efiBootloaderPath":"\\efi\\debian\\grubx64.efi","bootMode":"local","monitoring":true}`, 200)
	got := decode[map[string]any](t, e.api("GET", "/1.0/dedicated/server/web-1", "", 200))
	want := map[string]any{"name": "web-1", "os": "byoi_64", "efiBootloaderPath": `\efi\debian\grubx64.efi`, "bootMode": "local", "monitoring": false}
	for k := range got {
		if _, ok := want[k]; !ok {
			delete(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET server after PUT mismatch (-want +got):\n%s", diff)
	}
	w := e.do("PUT", "/1.0/dedicated/server/web-1", "Bearer good", `{"bootMode":"disk"}`)
	if w.Code != nethttp.StatusBadRequest || apiErr(t, w).Message != `invalid boot mode "disk": use "local", "rescue" or ""` {
		t.Errorf("PUT bad boot mode = %d %s, want 400", w.Code, w.Body.String())
	}
}
