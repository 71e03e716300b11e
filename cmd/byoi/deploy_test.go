package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/byoi/byoi/boot"
	"github.com/google/go-cmp/cmp"
)

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDeploy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cloudConfig := "#cloud-config\npackages: [nginx]\n"
	userData := write("user-data", cloudConfig)
	var gz bytes.Buffer // cloud-init inflates gzip user data
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(cloudConfig))
	zw.Close()
	binary := write("binary", gz.String())
	looksBase64 := write("b64", "abcd")
	sshKey := write("id.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host\n")
	twoKeys := write("two.pub", "ssh-ed25519 AAAA a\nssh-ed25519 BBBB b\n")
	const img = "https://img.example/debian-12.qcow2"
	for _, tc := range []struct {
		name    string
		args    []string
		want    boot.InstallSpec
		wantErr string
	}{
		{"minimal", []string{"deploy", "rack1", "--image-url", img, "--image-type", "qcow2"},
			boot.InstallSpec{OperatingSystem: "byoi_64", ImageURL: img, ImageType: "qcow2"}, ""},
		{"flags before the name", []string{"deploy", "--image-url", img, "--image-type", "raw", "rack1"},
			boot.InstallSpec{OperatingSystem: "byoi_64", ImageURL: img, ImageType: "raw"}, ""},
		{"everything", []string{"deploy", "rack1", "--image-url", img, "--image-type", "qcow2",
			"--checksum", "sha256:" + strings.Repeat("ab", 32), "--efi-bootloader-path", `\efi\debian\grubx64.efi`,
			"--header", "Authorization: Basic bG9naW46cGFzcw==", "--header", "X-Trace:1",
			"--user-data", userData, "--ssh-key", sshKey, "--metadata", "role=web", "--metadata", "env=prod=1",
			"--hostname", "web1", "--disk-group", "2"},
			boot.InstallSpec{OperatingSystem: "byoi_64", ImageURL: img, ImageType: "qcow2",
				ImageCheckSumType: "sha256", ImageCheckSum: strings.Repeat("ab", 32), EFIBootloaderPath: `\efi\debian\grubx64.efi`,
				HTTPHeaders:         map[string]string{"Authorization": "Basic bG9naW46cGFzcw==", "X-Trace": "1"},
				ConfigDriveUserData: cloudConfig, SSHKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs me@host",
				ConfigDriveMetadata: map[string]string{"role": "web", "env": "prod=1"}, Hostname: "web1", DiskGroupID: 2}, ""},
		{"binary user-data is sent as base64", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--user-data", binary},
			boot.InstallSpec{OperatingSystem: "byoi_64", ImageURL: img, ImageType: "raw", ConfigDriveUserData: base64.StdEncoding.EncodeToString(gz.Bytes())}, ""},
		// Sent as base64 of "abcd", which the server then refuses: it is no
		// user data cloud-init reads.
		{"text that looks like base64 is sent as base64", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--user-data", looksBase64},
			boot.InstallSpec{ConfigDriveUserData: base64.StdEncoding.EncodeToString([]byte("abcd"))}, "Invalid configDriveUserData: cloud-init does not recognise its first line"},
		{"missing image flags", []string{"deploy", "rack1"}, boot.InstallSpec{}, `required flags "image-url", "image-type" not set`},
		{"no machine name", []string{"deploy", "--image-url", img, "--image-type", "raw"}, boot.InstallSpec{}, "deploy: expected one argument, the machine name, got 0"},
		{"checksum without type", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--checksum", "abc"}, boot.InstallSpec{},
			`--checksum "abc": use TYPE:HEX`},
		{"header without colon", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--header", "Auth"}, boot.InstallSpec{},
			`--header "Auth": use K:V`},
		{"metadata twice", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--metadata", "a=1", "--metadata", "a=2"}, boot.InstallSpec{},
			"--metadata: a given twice"},
		{"two ssh keys", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--ssh-key", twoKeys}, boot.InstallSpec{},
			"expected exactly one public key line"},
		{"missing user-data file", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--user-data", filepath.Join(dir, "nope")}, boot.InstallSpec{},
			"--user-data: open "},
		{"server refuses the image type", []string{"deploy", "rack1", "--image-url", img, "--image-type", "iso"}, boot.InstallSpec{},
			"Bad format image, expected: qcow2, raw. (HTTP 400)"},
		{"server refuses half a checksum", []string{"deploy", "rack1", "--image-url", img, "--image-type", "raw", "--checksum", "sha256:"}, boot.InstallSpec{},
			`--checksum "sha256:": use TYPE:HEX`},
		{"unknown machine", []string{"deploy", "rack9", "--image-url", img, "--image-type", "raw"}, boot.InstallSpec{},
			"The requested object (serviceName = rack9) does not exist (HTTP 404)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.machines["rack1"] = boot.Machine{Name: "rack1", MACs: []string{"52:54:00:00:00:01"}}
			out, err := f.run(t, tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("byoi %s = %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.wantErr)
				}
				if tc.want.ConfigDriveUserData != "" { // what was sent before the server refused it
					var got boot.InstallSpec
					if err := json.Unmarshal([]byte(f.last("POST").Body), &got); err != nil || got.ConfigDriveUserData != tc.want.ConfigDriveUserData {
						t.Errorf("sent configDriveUserData = %q (%v), want %q", got.ConfigDriveUserData, err, tc.want.ConfigDriveUserData)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("byoi %s = %v", strings.Join(tc.args, " "), err)
			}
			req := f.last("POST")
			if req.Path != "/api/v1/machines/rack1/tasks" {
				t.Fatalf("POST went to %s, want /api/v1/machines/rack1/tasks", req.Path)
			}
			var got boot.InstallSpec
			if err := json.Unmarshal([]byte(req.Body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("request body mismatch (-want +got):\n%s", diff)
			}
			if want := "Task 101 created for rack1 (waiting). It installs at the machine's next network boot; follow it with `byoi wait rack1`.\n"; out != want {
				t.Errorf("output = %q, want %q", out, want)
			}
		})
	}
}

func TestDeployJSON(t *testing.T) {
	f := newFakeAPI(t)
	f.machines["rack1"] = boot.Machine{Name: "rack1"}
	out, err := f.run(t, "deploy", "rack1", "--image-url", "http://i/x.raw", "--image-type", "raw", "--header", "Authorization:secret", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got boot.Task
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not a task as JSON: %v\n%s", err, out)
	}
	if got.ID != 101 || got.Status != boot.StatusTodo || got.Spec.HTTPHeaders["Authorization"] != boot.RedactedValue {
		t.Errorf("deploy -o json = %+v, want task 101, todo, with the header redacted by the server", got)
	}
}
