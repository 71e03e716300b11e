package boot

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"strings"
	"testing"
)

// testSSHKey is a real ed25519 public key (its private half is not kept).
const testSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE0Ow6DQP+//k6m8zioktAbUb0Su/x93h9rtsTyq+kAs"

const testRSAKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7qQBr5iR4eoeJsUQ0+qSoMy8ht6Wxv7chw8GKX2y1YCf2MfrLybs8aUFmAsHUNsPAF9fwQv5lmNj28tNrXx4oPyRSlufxfCQOujqfmtEKz6vsJ2MdmOvESu2BvlBTVFuG1zb3BUBSxPw9pzAoiP6cwR6zdOXCpj6+hLpSN2Jwsw=="

const mimeUserData = "Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\n" +
	"--XYZ\nContent-Type: text/cloud-config; charset=\"us-ascii\"\n\n#cloud-config\nhostname: a\n" +
	"--XYZ\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n--XYZ--\n"

func TestValidateUserData(t *testing.T) {
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return base64.StdEncoding.EncodeToString(b.Bytes())
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		in      string
		wantErr string // exact; "" = valid
	}{
		{"empty", "", ""},
		{"cloud-config mapping", "#cloud-config\nhostname: web1\nruncmd:\n  - [touch, /x]\n", ""},
		{"cloud-config header only", "#cloud-config\n", ""},
		{"cloud-config comments only", "#cloud-config\n# nothing yet\n", ""},
		{"cloud-config with CRLF", "#cloud-config\r\nhostname: web1\r\n", ""},
		{"cloud-config base64", b64("#cloud-config\nhostname: web1\n"), ""},
		{"cloud-config duplicate keys (cloud-init keeps the last)", "#cloud-config\na: 1\na: 2\n", ""},
		{"cloud-config list", "#cloud-config\n- a\n- b\n", "Invalid configDriveUserData: #cloud-config must be a YAML mapping (key: value lines), not a list"},
		{"cloud-config scalar", "#cloud-config\nhello\n", "Invalid configDriveUserData: #cloud-config must be a YAML mapping (key: value lines), not a single value"},
		{"cloud-config bad YAML", "#cloud-config\nusers:\n  - name: a\n   sudo: x\n", "Invalid configDriveUserData: #cloud-config is not valid YAML: line 2: did not find expected '-' indicator"},
		{"cloud-config tab indent", "#cloud-config\nusers:\n\t- a\n", "Invalid configDriveUserData: #cloud-config is not valid YAML: line 3: found character that cannot start any token"},
		{"cloud-config two documents", "#cloud-config\na: 1\n---\nb: 2\n", "Invalid configDriveUserData: #cloud-config must be a single YAML document (found a --- separator)"},
		{"literal backslash-n", `#cloud-config\nhostname: web1\n`,
			`Invalid configDriveUserData: it contains the two characters \n but no line break; send real line breaks (written \n inside a JSON string), or base64`},
		{"script", "#!/bin/bash\necho hi\n", ""},
		{"script base64", b64("#!/bin/sh\nx\n"), ""},
		{"include", "#include\nhttp://a/b\n", ""},
		{"boothook", "#cloud-boothook\n#!/bin/sh\n", ""},
		{"jinja template", "## template: jinja\n#cloud-config\n", ""},
		{"gzip base64", gz("#cloud-config\nhostname: x\n"), ""},
		{"base64 of something else", b64("hello world\n"),
			`Invalid configDriveUserData: cloud-init does not recognise "hello world" as a first line; expected #cloud-config, a #! script, #include, #cloud-boothook, ## template: jinja or MIME multipart`},
		{"plain comment", "# just a comment\n",
			`Invalid configDriveUserData: cloud-init does not recognise "# just a comment" as a first line; expected #cloud-config, a #! script, #include, #cloud-boothook, ## template: jinja or MIME multipart`},
		{"cloud-config misspelt", "#cloud-confg\na: 1\n",
			`Invalid configDriveUserData: cloud-init does not recognise "#cloud-confg" as a first line; expected #cloud-config, a #! script, #include, #cloud-boothook, ## template: jinja or MIME multipart`},
		{"mimeUserData", mimeUserData, ""},
		{"mimeUserData base64", b64(mimeUserData), ""},
		{"mimeUserData bad cloud-config part", strings.Replace(mimeUserData, "hostname: a", "- a", 1),
			"Invalid configDriveUserData MIME part 1: #cloud-config must be a YAML mapping (key: value lines), not a list"},
		{"mimeUserData without boundary", "Content-Type: multipart/mixed\n\nx\n", "Invalid configDriveUserData: MIME multipart/mixed without a boundary"},
		{"mimeUserData unterminated", "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nx",
			"Invalid configDriveUserData: MIME part 1 does not parse: unexpected EOF"},
		{"mimeUserData no parts", "Content-Type: multipart/mixed; boundary=B\n\n--B--\n", "Invalid configDriveUserData: MIME multipart message without parts"},
		{"MIME bad content type", "Content-Type: ;;;\n\nx\n", "Invalid configDriveUserData: MIME Content-Type does not parse: mime: no media type"},
		{"MIME single cloud-config", "Content-Type: text/cloud-config\n\nhostname: a\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			s.ConfigDriveUserData = tc.in
			err := s.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tc.in, err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr || !IsValidation(err) {
				t.Fatalf("Validate(%q) = %v, want %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestValidateSSHKeyAndMetadata(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(s *InstallSpec)
		wantErr string
	}{
		{"ed25519", func(s *InstallSpec) { s.SSHKey = testSSHKey + " alice@laptop" }, ""},
		{"rsa without comment", func(s *InstallSpec) { s.SSHKey = testRSAKey }, ""},
		{"with options", func(s *InstallSpec) { s.SSHKey = `from="198.51.100.0/24" ` + testSSHKey }, ""},
		{"truncated", func(s *InstallSpec) { s.SSHKey = testSSHKey[:40] }, "Invalid sshKey: not an SSH public key line (type, base64 key, optional comment: ssh-ed25519 AAAA… user@host)"},
		{"private key pasted", func(s *InstallSpec) { s.SSHKey = "-----BEGIN OPENSSH PRIVATE KEY-----" }, "Invalid sshKey: not an SSH public key line (type, base64 key, optional comment: ssh-ed25519 AAAA… user@host)"},
		{"two keys", func(s *InstallSpec) { s.SSHKey = testSSHKey + "\n" + testRSAKey }, "Invalid sshKey: a single public key line is expected"},
		{"metadata ok", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"role": "web", "é": "ü"} }, ""},
		{"metadata value too long", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"k": strings.Repeat("v", 256)} },
			`Invalid configDriveMetadata value for "k": at most 255 characters of text without control characters`},
		{"metadata value 255 runes", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"k": strings.Repeat("é", 255)} }, ""},
		{"metadata value with newline", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"k": "a\nb"} },
			`Invalid configDriveMetadata value for "k": at most 255 characters of text without control characters`},
		{"metadata value not UTF-8", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"k": "\xff"} },
			`Invalid configDriveMetadata value for "k": at most 255 characters of text without control characters`},
		{"metadata key with control", func(s *InstallSpec) { s.ConfigDriveMetadata = map[string]string{"a\tb": "v"} }, `Invalid configDriveMetadata key "a\tb"`},
		{"metadata too many", func(s *InstallSpec) {
			s.ConfigDriveMetadata = map[string]string{}
			for i := range 129 {
				s.ConfigDriveMetadata[strings.Repeat("k", i+1)] = "v"
			}
		}, "configDriveMetadata has 129 items: at most 128"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.edit(&s)
			err := s.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.wantErr {
				t.Errorf("Validate() = %q, want %q", got, tc.wantErr)
			}
		})
	}
}

// FuzzValidateUserData feeds arbitrary user data (plain and base64) to
// Validate: it must never panic, and anything it accepts must decode.
func FuzzValidateUserData(f *testing.F) {
	for _, s := range []string{"#cloud-config\na: 1\n", mimeUserData, "#!/bin/sh\n", `#cloud-config\na: 1`, "I2Nsb3VkLWNvbmZpZwo=",
		"#cloud-config\n- a\n", "Content-Type: text/cloud-config\n\na: b\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := validSpec()
		s.ConfigDriveUserData = in
		if err := s.Validate(); err != nil {
			if !IsValidation(err) {
				t.Fatalf("Validate(%q) = %v, not a ValidationError", in, err)
			}
			return
		}
		if in != "" && len(s.UserData()) == 0 {
			t.Fatalf("Validate(%q) accepted user data that decodes to nothing", in)
		}
	})
}
